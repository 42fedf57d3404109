/**
 * Issue 14's bugs, each with a test that failed before its fix.
 */
import { describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { span } from '../../src/model/lifetimes.js';
import { expectSchema } from '../helpers/schema.js';

describe('issue 14 bugs', () => {
  it('hooks --netns X --all-netns --target qemu: exit 2 before any VM boots', async () => {
    const t0 = Date.now();
    const r = await nfscope(['hooks', '--netns', 'x', '--all-netns', '--target', 'qemu']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/exclude each other/);
    expect(r.stderr).not.toMatch(/booting/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('lifetimes aliveAgeUs (span) takes as many live entries as the kernel map holds', () => {
    const ages = Array.from({ length: 262144 }, (_, i) => 262144 - i + 0.4);
    expect(() => Math.min(...ages)).toThrow(RangeError); // what it used, and why it changed
    expect(span(ages)).toEqual({ min: 1, max: 262144 });
    expect(span([])).toBeNull();
  });

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
