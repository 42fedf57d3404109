/**
 * Which netfilter hook a drop happened at, from the kernel stack of the free:
 * the function that called nf_hook_slow is the NF_HOOK() site. Names are the
 * stable callers in net/ipv4 and net/ipv6 (5.x-6.18); inlining can hide one,
 * and then the hook stays unknown rather than guessed.
 */
const CALLER_HOOK: Record<string, string> = {
  ip_rcv: 'PRE_ROUTING', ip_rcv_finish: 'PRE_ROUTING', ip_list_rcv: 'PRE_ROUTING',
  ip_local_deliver: 'LOCAL_IN', ip_forward: 'FORWARD', __ip_local_out: 'LOCAL_OUT', ip_local_out: 'LOCAL_OUT',
  ip_output: 'POST_ROUTING', ip_mc_output: 'POST_ROUTING',
  ipv6_rcv: 'PRE_ROUTING', ipv6_list_rcv: 'PRE_ROUTING', ip6_input: 'LOCAL_IN', ip6_forward: 'FORWARD',
  __ip6_local_out: 'LOCAL_OUT', ip6_local_out: 'LOCAL_OUT', ip6_output: 'POST_ROUTING', ip6_finish_output: 'POST_ROUTING',
};

/** The skb free functions: one of them right above nf_hook_slow means nf_hook_slow freed the packet itself. */
const FREE_FNS = /^(kfree_skb|kfree_skb_reason|sk_skb_reason_drop|kfree_skb_list_reason|__kfree_skb)$/;

/**
 * frames innermost first ("nf_hook_slow+67"). The callback is the frame above nf_hook_slow when it
 * freed the packet itself (nf_tables with NF_DROP_REASON: 6.7+, Debian's 6.1.192). Where nf_hook_slow
 * freed it after a callback returned NF_DROP (5.10), the callback has returned and is on no stack:
 * callback null, `freedByHookSlow` true, for the hook listing and the rule counter to name it.
 */
export function hookFromStack(frames: string[]): { hook: string | null; callback: string | null; evidence: string | null; freedByHookSlow?: boolean } {
  const syms = frames.map((f) => f.replace(/\+\d+$/, ''));
  const i = syms.indexOf('nf_hook_slow');
  if (i < 0) return { hook: null, callback: null, evidence: null };
  const above = i > 0 ? syms[i - 1]! : null;
  const freedByHookSlow = above !== null && FREE_FNS.test(above);
  const callback = freedByHookSlow ? null : above;
  const caller = syms[i + 1];
  const hook = caller ? (CALLER_HOOK[caller.replace(/\.(isra|constprop|part)\.\d+$/, '')] ?? null) : null;
  return {
    hook,
    callback,
    evidence: freedByHookSlow
      ? `stack: ${above} ← nf_hook_slow ← ${caller ?? '?'}${hook ? ` (NF_HOOK site of ${hook})` : ''}: nf_hook_slow freed the packet after a callback returned NF_DROP`
      : `stack: ${callback ?? '?'} ← nf_hook_slow ← ${caller ?? '?'}${hook ? ` (NF_HOOK site of ${hook})` : ''}`,
    ...(freedByHookSlow ? { freedByHookSlow } : {}),
  };
}
