/**
 * The registration claim's judge: the hook listings and conntrack tables before and after a
 * rule that needs conntrack (and after a module reload) in, a verdict with its facts out. Pure.
 */
import type { HookList } from '../model/hooks.js';
import type { RegistrationObservation, RegistrationVerdict } from '../model/registration.js';

/** Conntrack's callbacks in a listing, as "HOOK PRIORITY callback". */
export function conntrackEntries(hooks: HookList[]): string[] {
  return hooks.flatMap((h) => h.entries.filter((e) => e.conntrack).map((e) => `${h.hook} ${e.priority} ${e.callback}`));
}

/** True when a listing has an iptables or nftables entry at LOCAL_IN. */
export function hasFilterAtLocalIn(hooks: HookList[]): boolean {
  return hooks.some((h) => h.hook === 'LOCAL_IN' && h.entries.some((e) => ['iptables', 'ip6tables', 'nftables'].includes(e.owner)));
}

/** LOCAL_IN's entries as "PRIORITY callback (owner)", or that the listing has no LOCAL_IN. */
function localInShown(hooks: HookList[]): string {
  const e = hooks.find((h) => h.hook === 'LOCAL_IN')?.entries ?? [];
  return e.length ? `LOCAL_IN: ${e.map((x) => `${x.priority} ${x.callback} (${x.owner})`).join(', ')}` : 'no LOCAL_IN entry at all';
}

/**
 * Confirmed when: no conntrack hook and no flow before the rule; conntrack's
 * hooks after it, and the running flow in the table; and, where the module
 * could be reloaded, conntrack's hooks in a fresh netns with no rule at all.
 */
export function judgeRegistration(o: RegistrationObservation): RegistrationVerdict {
  const r = o.byRule;
  if (r.unavailable.length) return { status: 'not-observable', facts: [], reason: r.unavailable[0]!.reason };
  // The instrument checked against what the step itself did: its rule registered a filter hook at
  // LOCAL_IN. A listing without it cannot show whether conntrack stayed away; the reason says what
  // the listing showed and what it said beside it, not a guess at why.
  if (!hasFilterAtLocalIn(r.hooksAfter)) {
    const warned = r.listingWarnings?.length ? `; the listing said: ${r.listingWarnings.join('; ')}` : '';
    return { status: 'not-observable', facts: [], reason: `the hook listing after \`${r.rule}\` has no iptables or nftables entry at LOCAL_IN (${localInShown(r.hooksAfter)}), although that rule registered one: the listing is missing what the step made, so it shows nothing either way${warned}` };
  }
  const { flowsBefore, flowsAfter } = r;
  if (!Array.isArray(flowsBefore)) return { status: 'not-observable', facts: [], reason: `the conntrack table before the rule could not be read: ${flowsBefore.failure}` };
  if (!Array.isArray(flowsAfter)) return { status: 'not-observable', facts: [], reason: `the conntrack table after the rule could not be read: ${flowsAfter.failure}` };
  const before = conntrackEntries(r.hooksBefore);
  const after = conntrackEntries(r.hooksAfter);
  const facts = [
    `no rule: ${before.length ? `conntrack hooks present (${before.join(', ')})` : 'no conntrack hook in the netns'}; conntrack -L: ${flowsBefore.length} flow(s) for the running connection`,
    `after \`${r.rule}\`: ${after.length ? `conntrack hooks ${after.join(', ')}` : 'still no conntrack hook'}; conntrack -L: ${flowsAfter.length ? flowsAfter.map((f) => `${f.state ?? ''} ${f.original.src}:${f.original.sport} → ${f.original.dst}:${f.original.dport}`.trim()).join('; ') : 'no flow'}`,
  ];
  let ok = before.length === 0 && flowsBefore.length === 0 && after.length > 0 && flowsAfter.length > 0;
  if (o.byModule.status === 'observed') {
    const m = conntrackEntries(o.byModule.hooks);
    facts.push(`after \`${o.byModule.command}\`, a fresh netns with no rule: ${m.length ? `conntrack hooks ${m.join(', ')}` : 'no conntrack hook'}`);
    ok &&= m.length > 0;
  } else {
    facts.push(`module reload not shown: ${o.byModule.reason}`);
  }
  return { status: ok ? 'confirmed' : 'refuted', facts };
}
