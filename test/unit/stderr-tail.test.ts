import { describe, expect, it } from 'vitest';
import { CommandFailedError, stderrTail } from '../../src/lib/errors.js';
import { stderrExcerpt } from '../../src/lib/run-result.js';

// The shape a kill's note has (targets/task-snapshot.ts, payload/vm/agent.py), as local-target.test.ts
// checks it against the kernel.
const snapshot = [
  'when nfscope sent SIGKILL, its tasks were (/proc/PID/task/TID):',
  '  pid 812 (bpftrace)',
  '    task 812 (bpftrace) state D, wchan synchronize_rcu_tasks_generic',
  '      [<0>] __wait_rcu_gp+0x10f/0x130',
  '    task 813 (bpftrace) state S, wchan ep_poll',
];

describe('a failure keeps the last 8 stderr lines, and a kill\'s snapshot of its tasks whole', () => {
  it('without a snapshot: the last 8', () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i}`);
    expect(stderrTail(lines.join('\n'))).toEqual(lines.slice(4));
  });
  it('with one: 8 lines before it, all of it, and the lines after it', () => {
    const before = Array.from({ length: 10 }, (_, i) => `warning ${i}`);
    const after = 'nfscope sent SIGKILL: it had not exited 45 s after SIGINT';
    const tail = stderrTail([...before, ...snapshot, after].join('\n'));
    expect(tail).toEqual([...before.slice(2), ...snapshot, after]);
    expect(new CommandFailedError(['bpftrace'], null, [...before, ...snapshot, after].join('\n')).message).toContain(snapshot.join('\n  '));
  });
  it('a one-line reason keeps the snapshot\'s header, not its stacks', () => {
    const after = 'nfscope sent SIGKILL: it had not exited 45 s after SIGINT';
    expect(stderrExcerpt(['warning 1', ...snapshot, after].join('\n'))).toBe(`warning 1 | ${snapshot[0]} | ${after}`);
  });
});
