/**
 * `nfscope vm run`'s exit status in the micro-VM (issue 14, issue 25): the guest command's own code
 * passes through, and a command killed at --timeout says so with 124. Boots VMs: a *.vm test, so
 * that nothing runs it beside another VM test (bugs.host had it, where a helper took it for a host test).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';
import { qemuProcesses } from '../helpers/qemu.js';

afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

describe('vm run exit status', () => {
  it('vm run passes the guest command\'s exit code through (it exited 0)', async () => {
    const r = await nfscope(['vm', 'run', '--kernel', 'linux-image-amd64', '--json', '--', 'false'], { timeoutMs: 300_000 });
    expect(r.exitCode, r.stderr).toBe(1);
    // --json too: the run's report, with the guest's exit code in it.
    const rep = JSON.parse(r.stdout);
    expectSchema('vm-run', rep);
    expect(rep.exitCode).toBe(1);
  }, 300_000);

  it('vm run of a command that outlives --timeout says it was killed at the deadline (exit 124), never a bare 1', async () => {
    // Before: the agent's 600 s default deadline killed follow.vm's guest script and vm run exited 1 with no word.
    const r = await nfscope(['vm', 'run', '--kernel', 'linux-image-amd64', '--timeout', '3', '--', 'sh', '-c', 'echo started; sleep 60; echo never'], { timeoutMs: 300_000 });
    expect(r.exitCode, r.stderr).toBe(124);
    expect(r.stdout.trim()).toBe('started');
    expect(r.stderr).toMatch(/ran past its 3 s deadline \(--timeout\) and was killed: sh -c/);
    const bad = await nfscope(['vm', 'run', '--timeout', '0', '--', 'true']);
    expect(bad.exitCode).toBe(2);
  }, 300_000);
});
