import { readdirSync, readFileSync } from 'node:fs';

/**
 * A process's start time (field 22 of /proc/PID/stat: clock ticks since boot),
 * or null when no such process runs. A pid plus its start time names one
 * process for good: a pid alone may have been reused by anything since.
 */
export function processStartTime(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return splitStat(stat).fields[19] ?? null; // fields[0] is field 3 (state), so field 22 is fields[19]
  } catch {
    return null;
  }
}

/** A /proc stat line split: comm (field 2, which may hold spaces and ')'), and the fields after it (fields[0] is field 3). */
export function splitStat(stat: string): { comm: string; fields: string[] } {
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}

/** Every process's /proc/PID/stat, split: pid, comm, and the fields after comm (fields[0] is field 3). */
export function* procStats(): Generator<{ pid: number; comm: string; fields: string[] }> {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    yield { pid: Number(d), ...splitStat(stat) };
  }
}

/** The children of pid whose comm matches (ppid: field 4): pid and start time (field 22) each. */
export function childrenOf(pid: number, comm: RegExp): { pid: number; startTime: string }[] {
  const out: { pid: number; startTime: string }[] = [];
  for (const p of procStats()) if (Number(p.fields[1]) === pid && comm.test(p.comm) && p.fields[19]) out.push({ pid: p.pid, startTime: p.fields[19] });
  return out;
}
