import { readFileSync, readdirSync } from 'node:fs';
import { AT_KILL_TASKS } from '../lib/errors.js';

/** A snapshot of many tasks is cut here: it goes into a failure's message. */
const SNAPSHOT_MAX = 8192;

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

/** comm and the fields after it, from a /proc stat line (comm may hold spaces and parentheses). */
function statFields(stat: string): { comm: string; rest: string[] } {
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), rest: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
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
  let pids: string[];
  try {
    pids = group ? readdirSync('/proc').filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b)) : [String(pid)];
  } catch (e) {
    return `  /proc could not be listed: ${(e as Error).message}`;
  }
  for (const d of pids) {
    let comm: string;
    let tids: string[];
    try {
      const st = statFields(read(`/proc/${d}/stat`));
      if (group && Number(st.rest[2]) !== pid) continue;
      comm = st.comm;
      tids = readdirSync(`/proc/${d}/task`).sort((a, b) => Number(a) - Number(b));
    } catch {
      continue; // gone meanwhile: not one of the group's any more
    }
    lines.push(`  pid ${d} (${comm})`);
    for (const t of tids) {
      const base = `/proc/${d}/task/${t}`;
      try {
        const state = statFields(read(`${base}/stat`)).rest[0];
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
