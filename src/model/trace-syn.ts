import type { HookList } from './hooks.js';
import { GRAPH_SCHEMA_VERSION, type CallGraphObservation, type GraphReport } from './graph.js';

export const TRACE_SYN_SCHEMA_VERSION = 3;

/** A netfilter verdict by name (include/uapi/linux/netfilter.h). */
export type Verdict = 'DROP' | 'ACCEPT' | 'STOLEN' | 'QUEUE' | 'REPEAT' | 'STOP' | `verdict ${number}`;
const VERDICTS: Verdict[] = ['DROP', 'ACCEPT', 'STOLEN', 'QUEUE', 'REPEAT', 'STOP'];
export function verdictName(v: number): Verdict {
  return VERDICTS[v] ?? `verdict ${v}`;
}

/** A netfilter callback that saw the SYN, in the order the packet met them. */
export interface CallbackHit {
  hook: string;
  priority: number | null;
  callback: string;
  /** From the hook listing (nftables, conntrack, defrag, …); null when the listing lacks it. */
  owner: string | null;
  conntrack: boolean;
  hits: number;
  /** What it returned for the SYN(s): the verdict of every return counted by name. */
  verdicts: Partial<Record<Verdict, number>>;
  /** The one verdict when all returns agree, 'mixed' otherwise, null when no return was seen. */
  verdict: Verdict | 'mixed' | null;
  /**
   * This callback dropped the SYN: it returned DROP, or the drop (skb:kfree_skb) happened inside
   * it, as when nf_tables frees the packet itself and returns STOLEN (NF_DROP_REASON, 6.7+).
   */
  dropped: boolean;
}

/**
 * What nfscope's programs print for the drop reason where skb:kfree_skb has no
 * reason field (before 5.17; kernel/bpf-shape.ts). Not -1: ct_life.bt counts
 * entries freed without a drop under -1. The enum is unsigned: no real reason reads so.
 */
export const NO_REASON = -2;

/** The drop reason as a text: its name, or why there is none. */
export function reasonText(reason: string | null): string {
  return reason ?? 'none (no reason field in skb:kfree_skb before 5.17)';
}

export interface DropObservation {
  hook: string | null;
  priority: number | null;
  callback: string | null;
  /** By name; null where skb:kfree_skb has no reason field (before 5.17). */
  reason: string | null;
  reasonCode: number | null;
  location: string;
  /** How hook/priority/callback were attributed (stack frames, hook listing). */
  evidence: string[];
  stack: string[];
  count: number;
  ruleCounter: { rule: string; packets: number } | null;
}

export interface Unconfirmed {
  allocated: number;
  confirmed: number;
  freedUnconfirmed: number;
  lifetimeUs: { min: number; p50: number; max: number } | null;
  destroyStack: string[];
  allocatedIn: string[];
}

/**
 * A tracer's probes in the run: attached before the SYN(s) went and still attached when they were
 * stopped, or why not. What a tracer did not see means "none" only where it was attached; where it
 * was not, the reason is required, so no reader has to guess one.
 */
export type Traced = { attached: true } | { attached: false; reason: string };

/** The observations that rest on a tracer: the callbacks and the unconfirmed entry (ct_syn.bt's kprobes), the drop (skb:kfree_skb). */
export type TracedObservation = 'callbacks' | 'unconfirmed' | 'drop';
export const TRACED_OBSERVATIONS: readonly TracedObservation[] = ['callbacks', 'unconfirmed', 'drop'];

/** The report's "not observable" entries for the tracers that were not attached, in one order. */
export function probeGaps(probes: Record<TracedObservation, Traced>): { observation: TracedObservation; reason: string }[] {
  return TRACED_OBSERVATIONS.flatMap((o) => {
    const p = probes[o];
    return p.attached ? [] : [{ observation: o, reason: p.reason }];
  });
}

/** Why an observation was not made: the reason its tracer's state carries (never a default). */
export function notTracedReason(r: Pick<TraceSynReport, 'probes'>, o: TracedObservation): string | null {
  const p = r.probes[o];
  return p.attached ? null : p.reason;
}

/**
 * Why an observation the report lacks was not made. Its tracer not attached: that reason. Attached
 * and still missing (an unconfirmed entry, which ct_syn.bt always accounts for): the report is
 * malformed, an error rather than a guessed cause.
 */
export function missingReason(r: Pick<TraceSynReport, 'probes'>, o: TracedObservation): string {
  const why = notTracedReason(r, o);
  if (why === null) throw new Error(`trace-syn report: no ${o} although its tracer was attached`);
  return why;
}

export interface TraceSynReport {
  schemaVersion: number;
  kernel: string;
  target: string;
  family: 'ipv4' | 'ipv6';
  port: number;
  firewall: 'iptables' | 'nft';
  afterConfirm: boolean;
  synsSent: number;
  sandbox: { client: string; server: string; inPlace: boolean; clientAddr: string; serverAddr: string } | null;
  callbacks: CallbackHit[];
  drop: DropObservation | null;
  /** How many flows to the port the table holds (one per SYN with --after-confirm). */
  conntrackEntries: number;
  conntrackEntry: null | { state: string | null; original: string; reply: string; flags: string[] };
  unconfirmed: Unconfirmed | null;
  /** The server netns's hooks for the family, as registered during the run. */
  hooks: HookList[];
  /** The hook listing's own warnings (callback addresses kallsyms did not name, chains not named). */
  hookWarnings?: string[];
  /** Which tracers were attached for the SYN(s), or why not: "not seen" is an observation only where they were. */
  probes: Record<TracedObservation, Traced>;
  /** What could not be observed, with the reason: the probes' gaps among them (probeGaps). */
  unavailable: { observation: string; reason: string }[];
  /** nfscope's DROP rule's counter after the SYN(s) (also in drop, when a drop was traced). */
  ruleCounter?: { rule: string; packets: number } | null;
  /** Only when asked for (the lab): function_graph around the same SYN; null where the kernel has none. */
  callGraph?: CallGraphObservation | null;
  verdict: string;
}

/** The call tree of claim 3, from the function_graph run around trace-syn's own SYN. */
export function graphOfTraceSyn(r: TraceSynReport): GraphReport | null {
  if (r.callGraph === undefined) return null;
  const why = r.unavailable.filter((u) => u.observation === 'call-graph');
  const cg = r.callGraph;
  return {
    schemaVersion: GRAPH_SCHEMA_VERSION,
    kernel: r.kernel,
    target: r.target,
    family: r.family,
    port: r.port,
    firewall: r.firewall,
    roots: cg?.roots ?? [],
    tracer: cg?.tracer ?? null,
    callTrees: cg?.callTrees ?? [],
    allocPath: cg?.allocPath ?? null,
    stats: cg?.stats ?? null,
    dropStacks: null,
    unavailable: why,
  };
}
