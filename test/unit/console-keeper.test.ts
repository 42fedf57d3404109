/**
 * The guest console log stays bounded on disk (issue 15) and its evidence survives (issue 25):
 * qemu appends to it (append=on, O_APPEND), nfscope reads it, keeps its first trouble report and
 * its tail in memory, and cuts the file back past the cap. Here a writer with O_APPEND, as qemu's
 * chardev opens it, floods a file under the keeper. The flood's lines are the ones a 6.12 guest
 * printed (test/fixtures/vm-console); only their number is made up.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsoleKeeper } from '../../src/vm/console-keeper.js';
import { consoleEvidence } from '../../src/vm/console-evidence.js';
import { qemuArgv } from '../../src/vm/qemu-argv.js';

const dir = mkdtempSync(join(tmpdir(), 'nfscope-console-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('console keeper', () => {
  it('a flood of 8 MiB stays under the cap on disk, and the report that started it is kept', async () => {
    const log = join(dir, 'console.log');
    const fd = openSync(log, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    const keeper = new ConsoleKeeper(log, { cap: 1 << 20, tailChars: 64 << 10, earlyChars: 16 << 10, everyMs: 20 }).start();
    writeSync(fd, '[    3.100000] Run /init as init process\n');
    writeSync(fd, '[   40.123456] BUG: kernel NULL pointer dereference, address: 0000000000000008\n');
    const line = Buffer.from('[   61.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [swapper/0:0]\n');
    let max = 0;
    for (let i = 0; i < (8 << 20) / line.length; i++) {
      writeSync(fd, line);
      if (i % 2000 === 0) {
        await new Promise((r) => setTimeout(r, 25));
        max = Math.max(max, statSync(log).size);
      }
    }
    writeSync(fd, '[  300.000000] the last line\n');
    const ev = await keeper.evidence();
    await keeper.stop(true);
    closeSync(fd);
    expect(max).toBeLessThan(2 << 20);
    // Kept: the oops (first), the lockup flood's first and last lines, the console's last line.
    expect(ev.kinds).toEqual(['oops', 'soft lockup']);
    expect(ev.headline).toBe('[   40.123456] BUG: kernel NULL pointer dereference, address: 0000000000000008');
    expect(ev.lines.at(-1)).toBe('[  300.000000] the last line');
    // The file left for the user is the kept text: bounded by the memory kept, and it opens with the oops's context.
    const kept = readFileSync(log, 'utf8');
    expect(kept.length).toBeLessThanOrEqual((16 << 10) + (64 << 10) + 200);
    expect(kept.split('\n').slice(0, 2)).toEqual(['[    3.100000] Run /init as init process', '[   40.123456] BUG: kernel NULL pointer dereference, address: 0000000000000008']);
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
    const argv = qemuArgv({ qemu: 'q', accel: 'tcg', vmlinuz: 'k', initramfs: 'i', kernelVersion: 'v', packageRoot: '/p,x', consoleLog: '/run/a,b/console.log', agentSocket: '/s', memoryMb: 256, cpus: 2 });
    expect(argv).toContain('file,id=con,path=/run/a,,b/console.log,append=on');
    expect(argv).toContain('local,path=/p,,x,mount_tag=nfscope,security_model=none,readonly=on,multidevs=remap');
  });
});
