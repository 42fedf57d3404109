/**
 * Issue 26 (4): Ctrl-C pressed again and again during teardown. The terminal sends SIGINT to the
 * whole foreground process group; before the fix the undo commands were in nfscope's group and
 * died with it (`ip netns del` killed mid-teardown: leftovers, "cleanup failed"). Here nfscope
 * leads a process group of its own (as a shell job would) and the group gets SIGINT every 25 ms
 * from the first one on, until the run exits.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState } from '../helpers/sys.js';

describe('teardown survives a repeated Ctrl-C to the process group', () => {
  it('trace-syn: exit 130, every change undone, nothing left', async () => {
    const before = machineState();
    const child = execa('node', [CLI, 'trace-syn', '--port', '2573', '--count', '1'], { reject: false, detached: true, timeout: 120_000 });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('… sending')) resolve();
      });
      void child.then((r) => reject(new Error(`trace-syn ended (${r.exitCode}) before sending: ${err}`)));
    });
    const group = -child.pid!;
    const ctrlC = () => {
      try {
        process.kill(group, 'SIGINT');
      } catch {
        // ESRCH: the group is gone (the run exited): nothing left to signal.
      }
    };
    ctrlC();
    const timer = setInterval(ctrlC, 25);
    const r = await child.finally(() => clearInterval(timer));
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: undoing \d+ change/);
    expect(r.stderr).toMatch(/still undoing/); // the later Ctrl-Cs reached nfscope, and were told off
    expect(r.stderr).not.toMatch(/cleanup failed/);
    expect(await leftoversSince(before)).toEqual([]);
  }, 150_000);
});
