/**
 * Where a tool run failed, the layers that read it say so instead of reading it as an answer:
 * fentry from `bpftrace --info` (kernel/capabilities.ts), the tracefs and kallsyms greps of the
 * callback tracers (experiments/ct-probes.ts), the pid set_ftrace_pid is given before the sender's
 * own (tools/ftrace.ts). The targets here are stand-ins that answer each argv with a RawRun; the
 * --info output is the one captured on the 6.18 host (test/fixtures/bpftrace/6.18.44-fc-v657/info,
 * meta.json beside it); every other stdout is grep's or empty, and each failure is built the way
 * the local target reports one (exit status, stderr, timedOut).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fentryFromInfo } from '../../src/kernel/capabilities.js';
import { callbackTracerPoints, chooseProbes } from '../../src/kernel/probe-points.js';
import { unusedPid } from '../../src/tools/ftrace.js';
import type { HookList } from '../../src/model/hooks.js';
import type { RawRun, Target } from '../../src/targets/target.js';
import { ROOT } from '../helpers/sys.js';

const infoDir = join(ROOT, 'test/fixtures/bpftrace/6.18.44-fc-v657/info');
const info = { stdout: readFileSync(join(infoDir, 'stdout.txt'), 'utf8'), stderr: readFileSync(join(infoDir, 'stderr.txt'), 'utf8') };
const raw = (argv: string[], o: Partial<RawRun>): RawRun => ({ argv, stdout: '', stderr: '', exitCode: 0, timedOut: false, durationMs: 5, ...o });

describe('fentry from bpftrace --info', () => {
  it('0.17 prints --info on stderr: its kfunc line is read there (the 6.18 capture says no)', () => {
    expect(info.stdout.trim()).toBe('');
    expect(fentryFromInfo('/usr/bin/bpftrace', raw(['/usr/bin/bpftrace', '--info'], info))).toEqual({ available: false, detail: 'bpftrace --info: kfunc no' });
  });
  it('the same text on stdout (later bpftrace) reads the same', () => {
    expect(fentryFromInfo('/usr/bin/bpftrace', raw(['/usr/bin/bpftrace', '--info'], { stdout: info.stderr })).available).toBe(false);
  });
  it('a failed or timed-out --info is unknown with its reason, not "no"', () => {
    const failed = fentryFromInfo('/usr/bin/bpftrace', raw(['/usr/bin/bpftrace', '--info'], { exitCode: 1, stderr: 'ERROR: failed to open BTF\n' }));
    expect(failed).toEqual({ available: null, detail: 'unknown: `/usr/bin/bpftrace --info` exited 1: ERROR: failed to open BTF' });
    const slow = fentryFromInfo('/usr/bin/bpftrace', raw(['/usr/bin/bpftrace', '--info'], { exitCode: null, signal: 'SIGKILL', timedOut: true, durationMs: 15_000 }));
    expect(slow).toEqual({ available: null, detail: 'unknown: `/usr/bin/bpftrace --info` timed out after 15 s' });
  });
  it('an --info with no kfunc line is unknown, saying so', () => {
    expect(fentryFromInfo('/b', raw(['/b', '--info'], { stderr: info.stderr.replace(/^.*kfunc.*$/m, '') }))).toEqual({ available: null, detail: 'unknown: `/b --info` printed no kfunc line' });
  });
  it('no bpftrace: not available, and why', () => {
    expect(fentryFromInfo(null, null)).toEqual({ available: false, detail: 'bpftrace missing' });
  });
});

/** A target whose exec answers by the first argv element and the file last in argv. */
function fakeTarget(answer: (argv: string[]) => Partial<RawRun>, files: Record<string, string> = {}, dirs: string[] = []): Target {
  const t: Partial<Target> = {
    name: 'fake',
    exec: async (argv: string[]) => raw(argv, answer(argv)),
    readFile: async (p: string) => files[p] ?? null,
    exists: async (p: string) => p in files || dirs.includes(p),
  };
  return t as Target;
}

const hooks: HookList[] = [{ family: 'ipv4', hook: 'PRE_ROUTING', entries: [{ priority: -200, callback: 'ipv4_conntrack_in', owner: 'conntrack', conntrack: true }] }];

describe('ct-probes: the greps of tracefs and kallsyms', () => {
  it('chooseProbes: grep exit 1 (none listed) is an answer: nothing probeable', async () => {
    const t = fakeTarget(() => ({ exitCode: 1 }));
    expect(await chooseProbes(t, '/sys/kernel/tracing', hooks, 'ipv4')).toMatchObject({ callbacks: [], conntrack: 0 });
  });
  it('chooseProbes: grep exit 2 is a failure with argv and stderr, not "no callback can be probed"', async () => {
    const t = fakeTarget(() => ({ exitCode: 2, stderr: 'grep: /sys/kernel/tracing/available_filter_functions: Input/output error\n' }));
    const r = await chooseProbes(t, '/sys/kernel/tracing', hooks, 'ipv4');
    expect(r).toEqual({ failure: expect.stringMatching(/^which callbacks can be probed is unknown: `grep -E .*available_filter_functions` exited 2: grep: .*Input\/output error$/) });
  });
  it('chooseProbes: a grep that timed out is a failure too', async () => {
    const t = fakeTarget(() => ({ exitCode: null, signal: 'SIGKILL', timedOut: true, durationMs: 60_000 }));
    expect(await chooseProbes(t, '/t', hooks, 'ipv4')).toEqual({ failure: expect.stringMatching(/timed out after 60 s$/) });
  });
  it('callbackTracerPoints: exit 1 of both greps is an answer (no span, no nf_queue)', async () => {
    expect(await callbackTracerPoints(fakeTarget(() => ({ exitCode: 1 })), '/t')).toEqual({ span: null, queue: false });
  });
  it('callbackTracerPoints: exit 2 of the nf_queue grep -q is a failure, not "nf_queue cannot be probed"', async () => {
    const t = fakeTarget((a) => (a.includes('-qE') ? { exitCode: 2, stderr: 'grep: /t/available_filter_functions: No such file or directory\n' } : { exitCode: 1 }));
    expect(await callbackTracerPoints(t, '/t')).toEqual({ failure: expect.stringMatching(/^whether kprobe:nf_queue can attach is unknown: `grep -qE .*` exited 2: grep: .*No such file or directory$/) });
  });
  it('callbackTracerPoints: a killed kallsyms grep is a failure, not "addresses hidden"', async () => {
    const t = fakeTarget((a) => (a.includes('/proc/kallsyms') ? { exitCode: null, signal: 'SIGTERM' } : { exitCode: 0 }));
    expect(await callbackTracerPoints(t, '/t')).toEqual({ failure: expect.stringMatching(/^nf_hook_slow's length could not be read: `grep -A1 .*\/proc\/kallsyms` was killed by SIGTERM$/) });
  });
});

describe('unusedPid: the pid set_ftrace_pid holds before the sender writes its own', () => {
  it('the highest pid below pid_max that has no /proc entry', async () => {
    const t = fakeTarget(() => ({}), { '/proc/sys/kernel/pid_max': '32768\n' }, ['/proc/32767']);
    expect(await unusedPid(t)).toBe(32766);
  });
  it('pid_max unreadable: an error, never a guess', async () => {
    await expect(unusedPid(fakeTarget(() => ({})))).rejects.toThrow(/pid_max is unreadable/);
  });
});
