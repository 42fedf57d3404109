import { readFileSync, readdirSync } from 'node:fs';
import { AT_KILL_TASKS } from '../lib/errors.js';
import { procStats, splitStat } from '../lib/proc.js';

/** A snapshot of many tasks is cut here: it goes into a failure's message. */
const SNAPSHOT_MAX = 8192;

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * What the tasks of a process were doing, for a process that would not stop: each task's state,
 * wchan and kernel stack (/proc/PID/task/TID/stack: root only, CONFIG_STACKTRACE). With group, every
 * process of the process group pid leads (a local spawn is the leader of its own group); else pid
 * alone. The twin of payload/vm/agent.py's group_tasks, which serves the targets behind the agent.
 * Synchronous, just before the SIGKILL: these reads do not wait on the process, but for the kernel
 * stack of a task in the middle of an exec (its exec_update_lock), which is as rare as it is short.
 */
export function taskSnapshot(pid: number, group: boolean): string {
  const lines: string[] = [];
  let procs: { pid: number; comm: string }[];
  try {
    // pgrp is field 5 (fields[2]).
    procs = group ? [...procStats()].filter((p) => Number(p.fields[2]) === pid).sort((a, b) => a.pid - b.pid) : [{ pid, ...splitStat(read(`/proc/${pid}/stat`)) }];
  } catch (e) {
    return `  /proc could not be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  for (const { pid: d, comm } of procs) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${d}/task`).sort((a, b) => Number(a) - Number(b));
    } catch {
      continue; // gone meanwhile: not one of the group's any more
    }
    lines.push(`  pid ${d} (${comm})`);
    for (const t of tids) {
      const base = `/proc/${d}/task/${t}`;
      try {
        const state = splitStat(read(`${base}/stat`)).fields[0];
        lines.push(`    task ${t} (${read(`${base}/comm`).trim()}) state ${state}, wchan ${read(`${base}/wchan`).trim() || '-'}`);
      } catch (e) {
        lines.push(`    task ${t}: unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        continue;
      }
      try {
        lines.push(...read(`${base}/stack`).split('\n').filter(Boolean).map((l) => `      ${l}`));
      } catch (e) {
        lines.push(`      kernel stack unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
  }
  const text = lines.length ? lines.join('\n') : `  none left${group ? ' in its process group' : ''}`;
  return text.length > SNAPSHOT_MAX ? `${text.slice(0, SNAPSHOT_MAX)}\n  [${text.length - SNAPSHOT_MAX} more characters not kept]` : text;
}

/** The note a kill leaves in the run's stderr: why it was killed and what its tasks were doing. */
export function atKillNote(why: string, pid: number, group: boolean): string {
  return `${why}, ${AT_KILL_TASKS}\n${taskSnapshot(pid, group)}\n`;
}
