/**
 * The choices and cuts of the call-graph experiment, pure: which functions
 * root the trees (from the hook listing and what the kernel can trace), the
 * ftrace filter, the trees cut at their roots, and where the drop's stacks
 * come from. Observations in, data out (experiments/graph.ts runs the tools).
 */
import type { HookList, IpFamily } from '../model/hooks.js';
import { baseSymbol } from '../model/owners.js';
import type { CallNode, CallRoot } from '../model/call-tree.js';
import type { KStack } from '../parsers/kstack.js';
import type { SkbDrop } from '../parsers/kfree-skb.js';

/**
 * The skb free path, newest name first: sk_skb_reason_drop (6.11+, with
 * kfree_skb_reason an inline wrapper), kfree_skb_reason (5.17-6.10),
 * kfree_skb (older). Whichever the kernel has is used.
 */
export const FREE_PATH = ['sk_skb_reason_drop', 'kfree_skb_reason', 'kfree_skb'];

/**
 * Core functions worth seeing inside the roots, when the kernel has them: the free of the entry
 * with the skb, and the firewall that dropped it. Not the slab allocator (kmem_cache_alloc,
 * kmem_cache_free): every CPU runs it all the time, and switching function_graph on patches each
 * filtered function's entry with text_poke_bp (an int3 first). A 6.1 guest under multi-threaded
 * qemu 7.2 TCG (its race with code patching: vm/qemu-argv.ts) locked up so, both vCPUs spinning on the int3 at kmem_cache_alloc+0 while `tee
 * current_tracer` patched it (soft lockups; console of a lab run, issue 27's bench). The entry's
 * allocation is still seen: __nf_conntrack_alloc is conntrack's own.
 */
export const CORE = [
  'nf_hook_slow', 'skb_release_head_state', 'skb_release_all', '__kfree_skb', 'kfree_skbmem',
  'ipt_do_table', 'ip6t_do_table', 'nft_do_chain', 'nf_conntrack_destroy', 'destroy_conntrack',
];

/** Conntrack's functions when it is built in (no [nf_conntrack] module to name). */
export const CONNTRACK_BUILTIN = /^(__)?(nf_conntrack|nf_ct|init_conntrack|resolve_normal_ct|ipv[46]_conntrack|ipv[46]_confirm|nf_confirm|tcp_new|tcp_options|hash_conntrack|get_l4proto)/;

export function defaultRoots(hooks: HookList[], family: IpFamily, have: Map<string, string | null>): string[] {
  const pre = hooks.find((h) => h.family === family && h.hook === 'PRE_ROUTING');
  const ct = [...new Set((pre?.entries ?? []).filter((e) => e.conntrack).map((e) => e.callback))];
  // No listing (or no conntrack hook yet): the function every conntrack callback calls.
  if (ct.length === 0) ct.push('nf_conntrack_in');
  const free = FREE_PATH.find((f) => have.has(f));
  return [...ct, ...(free ? [free] : [])].filter((f) => have.has(f));
}

export function graphFilter(roots: string[], have: Map<string, string | null>): string[] {
  const ctModule = [...have.values()].includes('nf_conntrack');
  const names = new Set<string>([...roots, ...CORE.filter((f) => have.has(f))]);
  if (!ctModule) for (const f of have.keys()) if (CONNTRACK_BUILTIN.test(f)) names.add(f);
  return [...(ctModule ? [':mod:nf_conntrack'] : []), ...names];
}

/** The topmost calls of a root function in each tree (the rest of the trace is context, not the packet). */
export function cutAtRoots(trees: CallRoot[], roots: string[]): CallRoot[] {
  const want = new Set(roots.map(baseSymbol));
  const out: CallRoot[] = [];
  const walk = (n: CallNode, r: CallRoot) => {
    if (want.has(baseSymbol(n.fn))) out.push({ ...r, tree: n });
    else for (const c of n.children) walk(c, r);
  };
  for (const r of trees) walk(r.tree, r);
  return out;
}

/**
 * The @stacks map is printed only at exit. If bpftrace was killed before (TCG
 * on a loaded machine, seen on 6.12), the stacks it printed with each of its
 * first 16 drops are the same observation.
 */
export function dropStackSource(stacks: KStack[], drops: SkbDrop[]): KStack[] {
  if (stacks.length) return stacks;
  if (drops.length > 16 || drops.some((d) => d.stack.length === 0)) return [];
  return drops.map((d) => ({ map: '@stacks', frames: d.stack, extra: null, count: 1 }));
}
