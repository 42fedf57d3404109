/**
 * Which processes an nfscope command may start before its modules are loaded: those the last
 * run of the same command line spawned here, kept for this boot in the probe cache
 * (lib/boot-cache.ts: root's, private, temp-and-rename). A process started this way is used only
 * by a spawn of exactly its argv (targets/local.ts), so a stale entry costs a wasted start, never
 * a wrong answer. Only for the commands that start short listings (`hooks`), as root, on this
 * machine.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readCached, writeCached } from './boot-cache.js';

const NAME = 'prestart';
/** More than this many processes at once would fight for the CPUs they are meant to save. */
export const PRESTART_MAX = 2;

/** The command line as the key, with this boot and the user: null where nothing is prestarted. */
export function prestartKey(args: readonly string[]): string | null {
  if (args[0] !== 'hooks' || process.getuid?.() !== 0) return null;
  // Another target than this machine: its processes are not ours to start here.
  if (args.some((a, i) => a.startsWith('--target') && !(a === '--target=local' || (a === '--target' && args[i + 1] === 'local')))) return null;
  let boot: string;
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null; // no boot id: nothing keyed on it is kept (a cache, the run goes on without it)
  }
  const env = Object.entries(process.env).filter(([k]) => k.startsWith('NFSCOPE_') || k === 'PATH').sort();
  return createHash('sha256').update(JSON.stringify([boot, args, env])).digest('hex');
}

/** Listing programs only: each argv runs bpftrace (behind nsenter or env at most). */
const valid = (v: unknown): v is string[][] =>
  Array.isArray(v) && v.length <= PRESTART_MAX
  && v.every((a) => Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string') && a.some((x) => /(^|\/)bpftrace$/.test(x)));

export function prestartArgvs(key: string): string[][] {
  const v = readCached(NAME, key);
  return valid(v) ? v : [];
}

/** After a command that succeeded: what it spawned, for the next identical one. */
export async function keepPrestart(key: string | null, argvs: string[][]): Promise<void> {
  if (key && argvs.length > 0 && valid(argvs)) await writeCached(NAME, key, argvs);
}
