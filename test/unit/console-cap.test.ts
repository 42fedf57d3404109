/**
 * The guest console log stays bounded (issue 15): qemu appends to it
 * (append=on, O_APPEND), nfscope cuts it back past the cap. Here a writer with
 * O_APPEND, as qemu's chardev opens it, floods a file under the watcher.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capConsole } from '../../src/vm/console-cap.js';
import { qemuArgv } from '../../src/vm/qemu-argv.js';

const dir = mkdtempSync(join(tmpdir(), 'nfscope-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('console log cap', () => {
  it('a flood of 8 MiB stays under the cap (plus what one interval writes)', async () => {
    const log = join(dir, 'console.log');
    const fd = openSync(log, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    const stop = capConsole(log, 1 << 20, 20);
    const line = Buffer.from('[  1.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [swapper/0:0]\n');
    let max = 0;
    for (let i = 0; i < (8 << 20) / line.length; i++) {
      writeSync(fd, line);
      if (i % 2000 === 0) {
        await new Promise((r) => setTimeout(r, 25));
        max = Math.max(max, statSync(log).size);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    stop();
    closeSync(fd);
    expect(max).toBeLessThan(2 << 20);
    expect(statSync(log).size).toBeLessThan(2 << 20);
    expect(readFileSync(log, 'utf8')).toMatch(/^\[nfscope: console log past 1 MiB, cut here\]\n/);
  });
  it('qemu opens the console log for appending', () => {
    const argv = qemuArgv({ qemu: 'q', accel: 'tcg', vmlinuz: 'k', initramfs: 'i', kernelVersion: 'v', packageRoot: '/p,x', consoleLog: '/run/a,b/console.log', agentSocket: '/s', memoryMb: 256, cpus: 2 });
    expect(argv).toContain('file,id=con,path=/run/a,,b/console.log,append=on');
    expect(argv).toContain('local,path=/p,,x,mount_tag=nfscope,security_model=none,readonly=on,multidevs=remap');
  });
});
