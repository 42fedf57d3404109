import type { Cleanup } from '../lib/cleanup.js';
import { NETFILTER_SYSCTL, sysctlsToRestore } from '../model/sysctl-restore.js';
import type { Target } from '../targets/target.js';
import { run } from '../lib/run.js';
import { CommandFailedError } from '../lib/errors.js';
import { parseGrepFiles } from '../parsers/grep-files.js';

const DIR = '/proc/sys/net/netfilter';

/**
 * Every writable net.netfilter.* sysctl of the target's own netns and its value. Read-only ones
 * (nf_conntrack_count) are not listed: there is nothing to put back. `find -perm -200`: the
 * owner-write bit, which is how procfs marks a writable sysctl (0644 vs 0444).
 */
export async function netfilterSysctls(target: Target): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!(await target.exists(DIR))) return out;
  const list = await run(target, ['find', DIR, '-type', 'f', '-perm', '-200'], { timeoutMs: 20_000 });
  const paths = list.stdout.split('\n').filter((p) => NETFILTER_SYSCTL.test(p)).sort();
  if (!paths.length) return out;
  // One command for all (parsers/grep-files.ts): one `cat` each was 5-6 s of a guest under TCG.
  const argv = ['env', 'LC_ALL=C', 'grep', '-a', '-H', '', '--', ...paths];
  const r = await target.exec(argv, { timeoutMs: 20_000 });
  const read = parseGrepFiles(paths, r);
  // A file gone since the listing (its module went meanwhile) has nothing to save. A sysctl that
  // reads empty is no value to put back: procfs prints at least a newline for each.
  const why = [...read.errors, ...read.empty.map((p) => `${p} read empty`)];
  if (why.length) throw new CommandFailedError(argv, r.exitCode, r.stderr, `reading the net.netfilter sysctls: ${why.slice(0, 3).join('; ')}`);
  for (const [path, v] of read.values) out.set(path, v);
  return out;
}

/** Writes back what differs from `saved`; returns what could not be (a write refused, a file gone). */
export async function restoreSysctls(target: Target, saved: ReadonlyMap<string, string>): Promise<string[]> {
  const plan = sysctlsToRestore(saved, await netfilterSysctls(target));
  const failed = plan.gone.map((p) => `${p}: gone (its module is not loaded), value ${saved.get(p)!.trim()} not restored`);
  for (const { path, value } of plan.restore) {
    const r = await target.exec(['tee', path], { input: value, timeoutMs: 20_000 });
    if (r.exitCode !== 0) failed.push(`tee ${path}: exit ${r.exitCode}: ${r.stderr.trim().split('\n')[0]}`);
  }
  return failed;
}

/**
 * Saves every net.netfilter.* sysctl and registers, before anything changes them, the undo that
 * writes them back (journaled: `nfscope cleanup` writes the same values after a SIGKILL). Returns
 * the saved values, for a restore right after the change too.
 */
export async function keepSysctls(target: Target, cleanup: Cleanup): Promise<Map<string, string>> {
  const saved = await netfilterSysctls(target);
  const cmds = [...saved].map(([path, value]) => ({ argv: ['tee', path], input: value.trim() + '\n' }));
  cleanup.push(`restore ${saved.size} net.netfilter sysctl(s)`, async () => {
    const failed = await restoreSysctls(target, saved);
    if (failed.length) throw new Error(failed.join('; '));
  }, cmds.length ? { undo: cmds } : undefined);
  return saved;
}
