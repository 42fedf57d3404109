/**
 * The guest console log stays bounded on disk (issue 15) and its evidence survives (issue 25):
 * qemu appends to it (append=on, O_APPEND), nfscope reads it, keeps its first trouble report and
 * its tail in memory, and cuts the file back past the cap. Here a writer with O_APPEND, as qemu's
 * chardev opens it, floods a file under the keeper: a real 6.12 panic (test/fixtures/vm-console),
 * then one of its quiet lines 100 000 times (8 MiB), then its last line.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsoleKeeper } from '../../src/vm/console-keeper.js';
import { consoleEvidence } from '../../src/vm/console-evidence.js';
import { qemuArgv } from '../../src/vm/qemu-argv.js';
import { ROOT } from '../helpers/sys.js';

const PANIC = readFileSync(join(ROOT, 'test/fixtures/vm-console/6.12.118+deb12-amd64/console.log'), 'utf8');
const PANIC_LINES = PANIC.trimEnd().split(/\r?\n/); // the serial console's CRLF

// Not nfscope's own console prefix (vm/boot.ts CONSOLE_DIR_PREFIX): qemu.vm's teardown removes the
// console directories that appeared while it ran, and it ran beside this file in the suite's other
// lane (2026-12-07: this directory went from under the test, ENOENT).
const dir = mkdtempSync(join(tmpdir(), 'nfscope-test-console-keeper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('console keeper', () => {
  it('a flood of 8 MiB stays under the cap on disk, and the report that started it is kept', async () => {
    const log = join(dir, 'console.log');
    const fd = openSync(log, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    const keeper = new ConsoleKeeper(log, { cap: 1 << 20, tailChars: 64 << 10, earlyChars: 16 << 10, everyMs: 20 }).start();
    writeSync(fd, PANIC);
    const line = Buffer.from(`${PANIC_LINES.find((l) => l.endsWith('<TASK>'))}\n`);
    let max = 0;
    for (let i = 0; i < (8 << 20) / line.length; i++) {
      writeSync(fd, line);
      if (i % 2000 === 0) {
        await new Promise((r) => setTimeout(r, 25));
        max = Math.max(max, statSync(log).size);
      }
    }
    writeSync(fd, `${PANIC_LINES.at(-1)}\n`);
    const ev = await keeper.evidence();
    await keeper.stop(true);
    closeSync(fd);
    expect(max).toBeLessThan(2 << 20);
    // Kept: the panic (at the start, cut from the file long ago) and the console's last line.
    const panicLine = PANIC_LINES.find((l) => l.includes('Kernel panic - not syncing'))!;
    expect(ev.kinds).toEqual(['panic']);
    expect(ev.headline).toBe(panicLine.trim());
    expect(ev.lines.at(-1)).toBe(PANIC_LINES.at(-1));
    // The file left for the user is the kept text: bounded by the memory kept, and it opens with the panic's console.
    const kept = readFileSync(log, 'utf8');
    expect(kept.length).toBeLessThanOrEqual((16 << 10) + (64 << 10) + 200);
    expect(kept.split(/\r?\n/).slice(0, PANIC_LINES.length)).toEqual(PANIC_LINES);
  });
  it('a quiet console is kept whole, and without trouble its evidence is its last lines', async () => {
    const log = join(dir, 'quiet.log');
    const fd = openSync(log, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    const keeper = new ConsoleKeeper(log, { everyMs: 20 }).start();
    const lines = Array.from({ length: 40 }, (_, i) => `[    ${i}.000000] line ${i}`);
    for (const l of lines) writeSync(fd, `${l}\n`);
    const ev = await keeper.evidence();
    await keeper.stop();
    closeSync(fd);
    expect(ev.kinds).toEqual([]);
    expect(ev.lines).toEqual(lines.slice(-25));
    expect(consoleEvidence(readFileSync(log, 'utf8'))).toEqual(ev);
  });
  it('qemu opens the console log for appending', () => {
    const argv = qemuArgv({ qemu: 'q', accel: 'tcg', vmlinuz: 'k', initramfs: 'i', kernelVersion: 'v', packageRoot: '/p,x', consoleLog: '/run/a,b/console.log', agentSocket: '/s', memoryMb: 256, cpus: 2, concurrentCpus: false });
    expect(argv).toContain('file,id=con,path=/run/a,,b/console.log,append=on');
    expect(argv).toContain('local,path=/p,,x,mount_tag=nfscope,security_model=none,readonly=on,multidevs=remap');
  });
});
