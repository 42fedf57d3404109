/**
 * No wait on a far kernel is unbounded (issue 25): a request the guest never answers fails at its
 * deadline with the witness's account; a guest that hangs up fails every pending request with the
 * witness's account of the death; a process that survives SIGKILL fails its stop() instead of
 * blocking it. Here the "guest" is a stream pair that says nothing.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/vm/agent-client.js';
import { runningHandle } from '../../src/targets/running.js';
import { runResult } from '../../src/lib/run-result.js';
import type { RawRun } from '../../src/lib/target.js';

function silentGuest() {
  const fromGuest = new PassThrough();
  const toGuest = new PassThrough();
  const sent: string[] = [];
  toGuest.on('data', (d: Buffer) => sent.push(...d.toString().split('\n').filter(Boolean)));
  const c = new AgentClient();
  c.attach(fromGuest, toGuest, () => fromGuest.destroy());
  c.witness = { gone: async () => 'qemu exited with status 0; the console says so', silent: async () => 'qemu still runs; the console shows a soft lockup' };
  return { c, fromGuest, sent };
}

describe('agent requests are bounded', () => {
  it('an exec the guest never answers fails after its deadline plus the grace, with the witness\'s account', async () => {
    const { c, sent } = silentGuest();
    c.answerGraceMs = 100;
    const t0 = performance.now();
    const r = await c.request('exec', ['cat', '/sys/kernel/tracing/trace'], { timeout: 200 }).done;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(r).toMatchObject({ timedOut: true, exitCode: null, stdout: '' });
    expect(r.stderr).toBe('the guest did not answer within 0.3 s (the command\'s own deadline was 0.2 s): qemu still runs; the console shows a soft lockup\n');
    // The agent is told to kill it, in case it comes back.
    expect(sent.map((l) => JSON.parse(l).op)).toEqual(['exec', 'signal']);
    const res = runResult(r);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toMatch(/^`cat \/sys\/kernel\/tracing\/trace` timed out after 0\.3 s: the guest did not answer/);
  });
  it('a guest that hangs up fails what was pending, and what comes after, with the account of its death', async () => {
    const { c, fromGuest } = silentGuest();
    const pending = c.request('exec', ['sh', '-c', 'echo c > /proc/sysrq-trigger'], { timeout: 60_000 }).done;
    fromGuest.end();
    fromGuest.destroy();
    const r = await pending;
    expect(r).toMatchObject({ signal: 'VMGONE', exitCode: null, stderr: 'the VM went away: qemu exited with status 0; the console says so\n' });
    const later = await c.request('exec', ['true'], { timeout: 1000 }).done;
    expect(later.stderr).toBe(r.stderr);
    const res = runResult(r);
    if (!res.ok) expect(res.reason).toMatch(/did not finish: the target went away: the VM went away: qemu exited with status 0/);
  });
});

describe('stop() is bounded', () => {
  it('a process that outlives SIGKILL makes stop() fail, saying it did not die', async () => {
    const signals: string[] = [];
    const never = new Promise<RawRun>(() => {});
    const { running } = runningHandle(['bpftrace', '-e', 'x'], never, (sig) => void signals.push(sig), 100);
    const r = await running.stop(50);
    expect(signals).toEqual(['INT', 'KILL']);
    expect(r).toMatchObject({ timedOut: true, exitCode: null });
    expect(r.stderr).toBe('did not die: still running 0.1 s after SIGKILL (sent 0.05 s after SIGINT)\n');
    // Whoever waits on done gets the same failure.
    expect(await running.done).toBe(r);
  });
  it('a process that exits on SIGINT is not sent SIGKILL', async () => {
    let exit: (r: RawRun) => void = () => {};
    const done = new Promise<RawRun>((r) => (exit = r));
    const signals: string[] = [];
    const { running } = runningHandle(['bpftrace'], done, (sig) => {
      signals.push(sig);
      exit({ argv: ['bpftrace'], stdout: 'maps\n', stderr: '', exitCode: 0, timedOut: false, durationMs: 1 });
    }, 100);
    expect((await running.stop(50)).stdout).toBe('maps\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(signals).toEqual(['INT']);
  });
});
