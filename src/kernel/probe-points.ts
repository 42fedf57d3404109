/**
 * Probe-point discovery: what this kernel lets nfscope's tracers attach to
 * (tracefs available_filter_functions, /proc/kallsyms). The programs are filled
 * with what is found here in programs/ (ct_syn.ts, follow_cb.ts).
 */
import type { HookList, IpFamily } from '../model/hooks.js';
import type { Target } from '../targets/target.js';
import { symbolLength } from '../parsers/hook-addresses.js';
import { GREP_ANSWERS, runResult } from '../lib/run-result.js';
import { KERNEL_SYMBOL as SYMBOL } from '../programs/callback-probes.js';

/** Probe points for the unconfirmed entry's life; stable from 4.x to 6.18 (experiment.md). */
export const LIFECYCLE_PROBES = ['__nf_conntrack_alloc', '__nf_conntrack_confirm', 'nf_conntrack_free'];

/**
 * The callbacks to probe: every one the kernel registered in the server netns
 * for the family (read from its hook listing, so ipv4_confirm on 6.1 and
 * nf_confirm on 6.2+ come from the kernel, not from a version table; the
 * filter's nft_do_chain_ipv4 or iptable_filter_hook alike), limited to names
 * kprobes can attach to (tracefs available_filter_functions). Conntrack's own
 * must be among them: without one, the experiment has nothing to show.
 */
export async function chooseProbes(
  target: Target, tracefs: string, hooks: HookList[], family: IpFamily,
): Promise<{ callbacks: string[]; missing: string[]; conntrack: number } | { failure: string }> {
  const entries = hooks.filter((h) => h.family === family).flatMap((h) => h.entries);
  const callbacks = [...new Set(entries.map((e) => e.callback))].filter((c) => SYMBOL.test(c));
  const wanted = [...callbacks, ...LIFECYCLE_PROBES];
  // grep's 1 (none listed) is an answer; its 2, a timeout or a target gone is not, and must not
  // read as "no callback can be probed on this kernel". The file is 50-80k lines: seconds to grep
  // under qemu TCG, hence the bound of availableFunctions (tools/ftrace.ts).
  const r = runResult(await target.exec(['grep', '-E', `^(${wanted.join('|')})( |$)`, `${tracefs}/available_filter_functions`], { timeoutMs: 60_000 }), GREP_ANSWERS);
  if (!r.ok) return { failure: `which callbacks can be probed is unknown: ${r.reason}` };
  const have = new Set(r.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean));
  const probed = callbacks.filter((c) => have.has(c));
  const ct = new Set(entries.filter((e) => e.conntrack).map((e) => e.callback));
  return { callbacks: probed, missing: wanted.filter((w) => !have.has(w)), conntrack: probed.filter((c) => ct.has(c)).length };
}

/**
 * What follow_cb.bt needs beyond its callbacks, read once per run: nf_hook_slow's length (its
 * SPAN parameter, from /proc/kallsyms; null where the addresses are hidden) and whether
 * kprobe:nf_queue can attach (tracefs available_filter_functions).
 */
export async function callbackTracerPoints(target: Target, tracefs: string): Promise<{ span: number | null; queue: boolean } | { failure: string }> {
  // grep's 1 is an answer (nf_hook_slow not listed: span null; nf_queue not probeable); its 2, a
  // timeout or a signal is a failure, said as such.
  const [ks, q] = await Promise.all([
    target.exec(['grep', '-A1', '-E', ' [tT] nf_hook_slow$', '/proc/kallsyms'], { timeoutMs: 30_000 }).then((x) => runResult(x, GREP_ANSWERS)),
    target.exec(['grep', '-qE', '^nf_queue( |$)', `${tracefs}/available_filter_functions`], { timeoutMs: 60_000 }).then((x) => runResult(x, GREP_ANSWERS)),
  ]);
  if (!ks.ok) return { failure: `nf_hook_slow's length could not be read: ${ks.reason}` };
  if (!q.ok) return { failure: `whether kprobe:nf_queue can attach is unknown: ${q.reason}` };
  return { span: symbolLength(ks.stdout, 'nf_hook_slow'), queue: q.run.exitCode === 0 };
}
