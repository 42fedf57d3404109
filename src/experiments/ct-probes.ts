import { readFile } from 'node:fs/promises';
import type { HookList } from '../model/hooks.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import type { Target } from '../targets/target.js';
import type { IpFamily } from '../tools/firewall.js';
import { join } from 'node:path';
import { symbolLength } from '../parsers/hook-addresses.js';
import { tryRun, GREP_ANSWERS } from '../tools/run.js';

/** Probe points for the unconfirmed entry's life; stable from 4.x to 6.18 (experiment.md). */
export const LIFECYCLE_PROBES = ['__nf_conntrack_alloc', '__nf_conntrack_confirm', 'nf_conntrack_free'];

const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
  const r = await tryRun(target, ['grep', '-E', `^(${wanted.join('|')})( |$)`, `${tracefs}/available_filter_functions`], { timeoutMs: 60_000, okExit: GREP_ANSWERS });
  if (!r.ok) return { failure: `which callbacks can be probed is unknown: ${r.reason}` };
  const have = new Set(r.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean));
  const probed = callbacks.filter((c) => have.has(c));
  const ct = new Set(entries.filter((e) => e.conntrack).map((e) => e.callback));
  return { callbacks: probed, missing: wanted.filter((w) => !have.has(w)), conntrack: probed.filter((c) => ct.has(c)).length };
}

/**
 * A callback template (bpf/ct_syn.bt, bpf/follow_cb.bt) with its probe lists filled in: kernel
 * symbol names, checked against SYMBOL.
 */
export async function fillCallbackProbes(rel: string, callbacks: string[]): Promise<string> {
  if (callbacks.length === 0 || !callbacks.every((c) => SYMBOL.test(c))) throw new Error('no valid callback to probe');
  const tpl = await readFile(join(PACKAGE_ROOT, rel), 'utf8');
  return tpl
    .replace(/^CALLBACK_PROBES$/m, callbacks.map((c) => `kprobe:${c}`).join(',\n'))
    .replace(/^CALLBACK_RETPROBES$/m, callbacks.map((c) => `kretprobe:${c}`).join(',\n'));
}

/**
 * bpf/follow_cb.bt's QUEUE_PROBE block: kprobe:nf_queue where the kernel lets it be probed, else
 * gone, and a hook that returned 0 is then left without a verdict (STOLEN and QUEUE look alike).
 */
export function fillQueueProbe(text: string, queueProbed: boolean): string {
  if (queueProbed) return text.replace(/^QUEUE_PROBE$/m, 'kprobe:nf_queue');
  return text.replace(/^QUEUE_PROBE\n\{[\s\S]*?\n\}\n/m, '').replace(/^.*\/\* queue \*\/\n/gm, '').replace(/^( *)\$stop = 2;$/m, '$1$stop = 255;');
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
    tryRun(target, ['grep', '-A1', '-E', ' [tT] nf_hook_slow$', '/proc/kallsyms'], { timeoutMs: 30_000, okExit: GREP_ANSWERS }),
    tryRun(target, ['grep', '-qE', '^nf_queue( |$)', `${tracefs}/available_filter_functions`], { timeoutMs: 60_000, okExit: GREP_ANSWERS }),
  ]);
  if (!ks.ok) return { failure: `nf_hook_slow's length could not be read: ${ks.reason}` };
  if (!q.ok) return { failure: `whether kprobe:nf_queue can attach is unknown: ${q.reason}` };
  return { span: symbolLength(ks.stdout, 'nf_hook_slow'), queue: q.run.exitCode === 0 };
}

/** bpf/ct_syn.bt with its probe lists filled in. */
export function ctSynProgram(callbacks: string[]): Promise<string> {
  return fillCallbackProbes('bpf/ct_syn.bt', callbacks);
}
