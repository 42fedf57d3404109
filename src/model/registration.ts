/**
 * Observation 0 (the article's opening): conntrack registers its hooks only
 * when something needs it. Data from experiments/registration.ts; judged by
 * judgeRegistration (pure).
 */
import type { HookList } from './hooks.js';

/** What the judge needs of a `conntrack -L` flow (parsers/conntrack.ts's CtEntry has it). */
export interface FlowSeen {
  state: string | null;
  original: Record<string, string>;
}

export type ModuleReload =
  | { status: 'observed'; command: string; hooks: HookList[] }
  | { status: 'not-observable'; reason: string };

export interface RegistrationObservation {
  byRule: {
    hooksBefore: HookList[];
    /** conntrack -L in the server netns, flows to the port, while the flow runs and before the rule. */
    flowsBefore: FlowSeen[];
    rule: string;
    hooksAfter: HookList[];
    flowsAfter: FlowSeen[];
    unavailable: { observation: string; reason: string }[];
  };
  byModule: ModuleReload;
}

/** Conntrack's callbacks in a listing, as "HOOK PRIORITY callback". */
export function conntrackEntries(hooks: HookList[]): string[] {
  return hooks.flatMap((h) => h.entries.filter((e) => e.conntrack).map((e) => `${h.hook} ${e.priority} ${e.callback}`));
}

export interface RegistrationVerdict {
  status: 'confirmed' | 'refuted' | 'not-observable';
  /** One line per fact the verdict rests on. */
  facts: string[];
  reason?: string;
}

/**
 * Confirmed when: no conntrack hook and no flow before the rule; conntrack's
 * hooks after it, and the running flow in the table; and, where the module
 * could be reloaded, conntrack's hooks in a fresh netns with no rule at all.
 */
/** True when a listing has an iptables or nftables entry at LOCAL_IN. */
export function hasFilterAtLocalIn(hooks: HookList[]): boolean {
  return hooks.some((h) => h.hook === 'LOCAL_IN' && h.entries.some((e) => ['iptables', 'ip6tables', 'nftables'].includes(e.owner)));
}

export function judgeRegistration(o: RegistrationObservation): RegistrationVerdict {
  const r = o.byRule;
  if (r.unavailable.length) return { status: 'not-observable', facts: [], reason: r.unavailable[0]!.reason };
  // The instrument checked against what the step itself did: its rule registered a filter hook at
  // LOCAL_IN. A listing without it is broken (bpftrace 0.17 misreads Debian 7.2's struct net), not
  // evidence that conntrack stayed away.
  if (!hasFilterAtLocalIn(r.hooksAfter)) {
    return { status: 'not-observable', facts: [], reason: `the hook listing after \`${r.rule}\` shows no filter hook at LOCAL_IN, where that rule registered one: the listing is not reliable on this kernel (a bpftrace that misreads its BTF), so it shows nothing either way` };
  }
  const before = conntrackEntries(r.hooksBefore);
  const after = conntrackEntries(r.hooksAfter);
  const facts = [
    `no rule: ${before.length ? `conntrack hooks present (${before.join(', ')})` : 'no conntrack hook in the netns'}; conntrack -L: ${r.flowsBefore.length} flow(s) for the running connection`,
    `after \`${r.rule}\`: ${after.length ? `conntrack hooks ${after.join(', ')}` : 'still no conntrack hook'}; conntrack -L: ${r.flowsAfter.length ? r.flowsAfter.map((f) => `${f.state ?? ''} ${f.original.src}:${f.original.sport} → ${f.original.dst}:${f.original.dport}`.trim()).join('; ') : 'no flow'}`,
  ];
  let ok = before.length === 0 && r.flowsBefore.length === 0 && after.length > 0 && r.flowsAfter.length > 0;
  if (o.byModule.status === 'observed') {
    const m = conntrackEntries(o.byModule.hooks);
    facts.push(`after \`${o.byModule.command}\`, a fresh netns with no rule: ${m.length ? `conntrack hooks ${m.join(', ')}` : 'no conntrack hook'}`);
    ok &&= m.length > 0;
  } else {
    facts.push(`module reload not shown: ${o.byModule.reason}`);
  }
  return { status: ok ? 'confirmed' : 'refuted', facts };
}
