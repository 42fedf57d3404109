/**
 * Facts about this machine's running kernel that only a reboot or a module
 * moving can change (which addresses nf_tables' callbacks have, what
 * `bpftrace --info` says), kept between runs so that a command does not pay
 * for them each time: 55-60 ms of `nfscope hooks` before bpftrace could start
 * (6.18; issue 14). /run is a tmpfs, emptied at boot; the caller's key names
 * the boot and whatever else the fact depends on.
 *
 * A cache, never a source of truth: anything odd (a file not ours, writable by
 * others, a link, bad JSON, another key) reads as absent, and a failed write
 * is ignored. NFSCOPE_PROBE_CACHE=off turns it off.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { untrustedReason } from './journal.js';
import { writeFileAtomic } from './safe-write.js';

export const PROBE_CACHE_DIR = process.env.NFSCOPE_PROBE_CACHE ?? '/run/nfscope/probe-cache';

const NAME = /^[a-z][a-z0-9-]{0,40}$/;

function file(name: string): string {
  if (!NAME.test(name)) throw new Error(`bad cache name ${name}`);
  return join(PROBE_CACHE_DIR, `${name}.json`);
}

/** The value kept under `name` for `key`, or null. */
export function readCached(name: string, key: string): unknown {
  if (PROBE_CACHE_DIR === 'off') return null;
  try {
    if (untrustedReason(lstatSync(PROBE_CACHE_DIR), 'the probe cache', 'dir')) return null;
    const fd = openSync(file(name), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (untrustedReason(fstatSync(fd), 'a probe cache file', 'file')) return null;
      const o = JSON.parse(readFileSync(fd, 'utf8')) as { key?: unknown; value?: unknown };
      return o.key === key && o.value !== undefined ? o.value : null;
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Keeps `value` under `name` for `key` (temp-and-rename, mode 0600). Never throws. */
export async function writeCached(name: string, key: string, value: unknown): Promise<void> {
  if (PROBE_CACHE_DIR === 'off') return;
  try {
    mkdirSync(PROBE_CACHE_DIR, { recursive: true, mode: 0o700 });
    if (untrustedReason(lstatSync(PROBE_CACHE_DIR), 'the probe cache', 'dir')) return;
    await writeFileAtomic(file(name), JSON.stringify({ key, value }), async () => {}, 0o600);
  } catch {
    // A cache: the run goes on without it.
  }
}

/**
 * The value under `name` for `key` when it passes `valid`; else `probe()`'s, kept when it says so.
 * No key (another target, or a fact with nothing to key it on): always probed.
 */
export async function cachedProbe<T>(
  name: string, key: string | null, valid: (v: unknown) => v is T, probe: () => Promise<{ value: T; keep: boolean }>,
): Promise<T> {
  const cached = key ? readCached(name, key) : null;
  if (cached !== null && valid(cached)) return cached;
  const { value, keep } = await probe();
  if (key && keep) await writeCached(name, key, value);
  return value;
}

const FILE_NAME = /^[a-z][a-z0-9-]{0,80}\.[a-z]{1,8}$/;

/**
 * A file kept for this boot that another program reads by its path (bpftrace's BPFTRACE_BTF): the
 * path of `name` in the probe cache when it is there and trusted (root's, no one else can write
 * it, not a link), else `make()`'s bytes written there (temp-and-rename, 0600) and its path. null
 * when the cache is off or cannot be used: the caller goes without. The name carries the key.
 */
export async function cachedFile(name: string, make: () => Promise<Buffer | null>): Promise<string | null> {
  if (PROBE_CACHE_DIR === 'off' || !FILE_NAME.test(name)) return null;
  const path = join(PROBE_CACHE_DIR, name);
  try {
    if (untrustedReason(lstatSync(PROBE_CACHE_DIR), 'the probe cache', 'dir')) return null;
    const st = lstatSync(path);
    return untrustedReason(st, 'a probe cache file', 'file') ? null : path;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null;
  }
  const bytes = await make();
  if (!bytes) return null;
  try {
    mkdirSync(PROBE_CACHE_DIR, { recursive: true, mode: 0o700 });
    if (untrustedReason(lstatSync(PROBE_CACHE_DIR), 'the probe cache', 'dir')) return null;
    await writeFileAtomic(path, bytes, async () => {}, 0o600);
    return path;
  } catch {
    // A cache: the run goes on without it.
    return null;
  }
}
