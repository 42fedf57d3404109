/**
 * The key under which lib/boot-cache.ts keeps a fact about this machine's
 * running kernel: its boot id, and where each module sits (/proc/modules:
 * name, size, load address; a module unloaded and loaded again moves, and its
 * symbols with it). Refcounts are left out: they change with every rule. Only
 * for this machine (LocalTarget): another target's facts are probed each run.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { LocalTarget } from '../targets/local.js';
import type { Target } from '../targets/target.js';

/** The modules' placement, as a key part. Pure. */
export function modulesKey(procModules: string): string {
  return procModules.split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    return `${f[0]} ${f[1]} ${f[5] ?? ''}`;
  }).sort().join('\n');
}

/**
 * A key for this boot, its modules' placement and `extra` (asked only on this machine); null where
 * nothing is cached, or when `extra` cannot be had.
 */
export async function bootKey(target: Target, extra: () => string[] = () => []): Promise<string | null> {
  if (!(target instanceof LocalTarget)) return null;
  let more: string[];
  try {
    more = extra();
  } catch {
    return null;
  }
  const [boot, modules] = await Promise.all([target.readFile('/proc/sys/kernel/random/boot_id'), target.readFile('/proc/modules')]);
  if (!boot?.trim()) return null;
  // No /proc/modules: a kernel without loadable modules (CONFIG_MODULES=n, this 6.18 host).
  const placement = modules ?? ((await target.exists('/proc/modules')) ? null : '');
  if (placement === null) return null;
  return createHash('sha256').update([boot.trim(), modulesKey(placement), ...more].join('\n\0')).digest('hex');
}

/** A program's identity as a key part: path, inode, size and change time. */
export function fileKey(path: string): string {
  const st = statSync(path);
  return `${path} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}`;
}
