/**
 * follow's correlation: the events of each source (nf_tables' trace,
 * skb:kfree_skb drops, conntrack events) in, one record per packet and a
 * summary of flows out. Pure: no I/O.
 *
 * One identity per packet:
 * - callbacks (kprobes): one pass per skb address and path (analysis/follow-passes.ts);
 *   nf_tables' trace of the same tuple joins the passes in order, a drop joins by skb;
 * - nf_tables: a `packet:` line in nfscope's trace chain (the first base chain
 *   the packet meets: priority -2147483647) starts a packet; later lines with
 *   the same trace id belong to it. A trace id alone is not unique: it is a
 *   hash of the skb, and a reused skb repeats it (seen on 6.18).
 * - drops: a drop joins the newest packet of the same tuple whose trace ended
 *   in `drop` and has no drop yet; failing that, the newest packet of the same
 *   tuple seen before it with no drop and no later accept decision; otherwise
 *   it is a packet of its own (no nft tracing, or a drop outside nf_tables).
 */
import { hookFromStack } from '../model/stack-hooks.js';
import {
  FOLLOW_SCHEMA_VERSION, type ConntrackEvent, type DropObservation, type Fate, type FlowSummary, type FollowPacket, type NftStep, type PacketTuple,
} from '../model/follow.js';
import type { NftTraceLine } from '../parsers/nft-trace.js';
import { tcpFlagNames, type RawDrop } from '../parsers/follow-drop.js';
import type { RawCtEvent } from '../parsers/conntrack-events.js';
import type { CbRecord } from '../parsers/follow-cb.js';
import type { HookList } from '../model/hooks.js';
import { buildPasses, conntrackView, hookPasses, natChanges, type CbPass } from './follow-passes.js';

/** A source's event with the time follow received it (seconds since ready). */
export interface Timed<T> { t: number; ev: T }

export interface Correlation {
  nft: Timed<NftTraceLine>[];
  drops: Timed<RawDrop>[];
  /** "family table chain" → netfilter hook of that base chain (LOCAL_IN, ...). */
  chainHooks: Map<string, string>;
  /** nfscope's trace chain: its `packet:` lines start packets. */
  traceChain: { family: string; table: string; chain: string } | null;
  /** skb:kfree_skb reason numbers → names, from the tracepoint format. */
  reasons: Map<number, string>;
  /** bpf/follow_cb.bt's records, where the target has kprobes; null otherwise. */
  callbacks?: Timed<CbRecord>[] | null;
  /** The netns's hook listing the callbacks are laid over. */
  listing?: HookList[] | null;
}

const PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

export function flowKey(t: PacketTuple): string {
  const ep = (a: string | null, p: number | null) => (p === null ? `${a ?? '?'}` : t.family === 'ipv6' ? `[${a ?? '?'}]:${p}` : `${a ?? '?'}:${p}`);
  return `${t.proto ?? '?'} ${ep(t.src, t.sport)} > ${ep(t.dst, t.dport)}`;
}

function sameTuple(a: PacketTuple, b: PacketTuple): boolean {
  return a.src === b.src && a.dst === b.dst && a.sport === b.sport && a.dport === b.dport && (a.proto === null || b.proto === null || a.proto === b.proto);
}

const DECIDES = new Set(['accept', 'drop', 'queue', 'stolen']);

function lastDecision(steps: NftStep[]): NftStep | null {
  for (let i = steps.length - 1; i >= 0; i--) if (DECIDES.has(steps[i]!.verdict.split(' ')[0]!)) return steps[i]!;
  return null;
}

export function dropObservation(d: RawDrop, reasons: Map<number, string>): DropObservation {
  const reason = d.reasonCode < 0 ? null : (reasons.get(d.reasonCode) ?? null);
  return {
    reason, reasonCode: d.reasonCode < 0 ? null : d.reasonCode, location: d.location, stack: d.stack,
    hook: hookFromStack(d.stack).hook, skb: d.skb, nsecs: d.nsecs,
  };
}

function dropTuple(d: RawDrop): PacketTuple {
  return {
    family: d.ipver === 4 ? 'ipv4' : 'ipv6', proto: PROTO[d.proto] ?? String(d.proto), src: d.src, dst: d.dst,
    sport: d.proto === 6 || d.proto === 17 ? d.sport : null, dport: d.proto === 6 || d.proto === 17 ? d.dport : null,
    tcpFlags: d.proto === 6 ? tcpFlagNames(d.tcpFlags) : null,
  };
}

/** What happened to the packet, from what was observed; never more. */
export function fateOf(p: Pick<FollowPacket, 'nft' | 'drop' | 'hooks'>): Fate {
  const decision = p.nft ? lastDecision(p.nft.steps) : null;
  // The callback that ended the packet's path, where callbacks were seen.
  let ender: { hook: string; callback: string; verdict: string } | null = null;
  let lastHook: string | null = null;
  for (const h of p.hooks ?? []) {
    for (const c of h.callbacks) {
      if (c.verdict === 'ACCEPT') lastHook = h.hook;
      if (['DROP', 'STOLEN', 'QUEUE'].includes(c.verdict)) ender ??= { hook: h.hook, callback: c.callback, verdict: c.verdict };
    }
  }
  const ruleName = (r: NftStep) => `${r.family} ${r.table} ${r.chain}${r.kind === 'policy' ? ' policy' : r.handle !== null ? ` handle ${r.handle}` : ''}`;
  if (p.drop || ender?.verdict === 'DROP') {
    const byRule = decision && decision.verdict === 'drop' ? decision : null;
    const by = byRule ? ruleName(byRule) : ender ? ender.callback : p.drop!.location;
    return { kind: 'dropped', hook: byRule?.hook ?? ender?.hook ?? p.drop?.hook ?? null, by, reason: p.drop?.reason ?? null };
  }
  if (ender?.verdict === 'STOLEN') return { kind: 'stolen', hook: ender.hook, by: ender.callback };
  if (ender?.verdict === 'QUEUE') return { kind: 'queued', hook: ender.hook, by: ender.callback };
  if (decision?.verdict === 'drop') return { kind: 'dropped', hook: decision.hook, by: ruleName(decision), reason: null };
  if (lastHook) {
    const where = lastHook === 'LOCAL_IN' ? 'delivered to the local stack' : lastHook === 'POST_ROUTING' ? 'sent out' : `passed ${lastHook}`;
    return { kind: 'accepted', detail: `${where}: every callback it met accepted it (last hook ${lastHook}), and no drop of it was seen` };
  }
  if (decision) {
    return { kind: 'accepted', detail: `the last nf_tables decision was accept (${decision.family} ${decision.table} ${decision.chain}${decision.hook ? ` at ${decision.hook}` : ''}), and no drop of it was seen` };
  }
  return { kind: 'unknown', detail: 'no source saw a decision about this packet' };
}

export function fateLabel(f: Fate): string {
  if (f.kind === 'dropped') return `dropped${f.hook ? ` at ${f.hook}` : ''}${f.by ? ` by ${f.by}` : ''}`;
  if (f.kind === 'stolen' || f.kind === 'queued') return `${f.kind}${f.hook ? ` at ${f.hook}` : ''} by ${f.by}`;
  return f.kind === 'accepted' ? 'accepted by netfilter' : 'unknown';
}

type Draft = {
  t: number; tuple: PacketTuple; iif: string | null; traceId: string | null; steps: NftStep[]; drop: DropObservation | null;
  pass: CbPass | null; sources: Set<string>;
};

function passTuple(p: CbPass): PacketTuple {
  const first = p.calls[0]!.call;
  return {
    family: p.family === 'ipv6' ? 'ipv6' : 'ipv4', proto: null, src: p.tuple?.src ?? null, dst: p.tuple?.dst ?? null,
    sport: first.sport || null, dport: first.dport || null, tcpFlags: null,
  };
}

/** Builds the packets in the order they were first seen. */
export function correlate(c: Correlation): FollowPacket[] {
  const drafts: Draft[] = [];
  // 1. Callback passes: the skb address and the path give each its identity.
  const passes = c.callbacks ? buildPasses(c.callbacks) : [];
  for (const p of passes) drafts.push({ t: p.t, tuple: passTuple(p), iif: null, traceId: null, steps: [], drop: null, pass: p, sources: new Set(['callbacks']) });

  // 2. nf_tables' trace: a packet joins the first pass of its tuple not yet joined, in order.
  const openByTrace = new Map<string, Draft>();
  const isTraceChain = (l: NftTraceLine) => c.traceChain !== null && l.family === c.traceChain.family && l.table === c.traceChain.table && l.chain === c.traceChain.chain;
  for (const e of c.nft) {
    const l = e.ev;
    let d = openByTrace.get(l.id);
    if (l.kind === 'packet' && (isTraceChain(l) || !d)) {
      const tuple: PacketTuple = { family: l.packet.family, proto: l.packet.proto, src: l.packet.src, dst: l.packet.dst, sport: l.packet.sport, dport: l.packet.dport, tcpFlags: l.packet.tcpFlags };
      d = drafts.find((x) => x.pass && x.traceId === null && sameTuple(x.tuple, tuple));
      if (d) {
        d.traceId = l.id;
        d.tuple = { ...d.tuple, proto: tuple.proto, tcpFlags: tuple.tcpFlags, family: tuple.family };
        d.iif = l.packet.iif;
        d.sources.add('nftrace');
      } else {
        d = { t: e.t, iif: l.packet.iif, traceId: l.id, steps: [], drop: null, pass: null, sources: new Set(['nftrace']), tuple };
        drafts.push(d);
      }
      openByTrace.set(l.id, d);
      continue;
    }
    if (!d || l.kind === 'packet') continue;
    const hook = c.chainHooks.get(`${l.family} ${l.table} ${l.chain}`) ?? null;
    // nfscope's own trace rule is not a decision the user's ruleset made: left out.
    if (isTraceChain(l) && (l.kind !== 'policy' || l.verdict === 'accept')) continue;
    if (l.kind === 'rule') d.steps.push({ family: l.family, table: l.table, chain: l.chain, hook, kind: 'rule', handle: l.handle, rule: l.rule, verdict: l.verdict });
    else d.steps.push({ family: l.family, table: l.table, chain: l.chain, hook, kind: 'policy', handle: null, rule: null, verdict: l.verdict });
  }

  // 3. Drops: by skb address where a pass has it, else by tuple (see the header).
  for (const e of c.drops) {
    const raw = e.ev;
    const tuple = dropTuple(raw);
    const obs = dropObservation(raw, c.reasons);
    let d = [...drafts].reverse().find((x) => !x.drop && x.pass?.skb === raw.skb && x.pass.t <= e.t + 0.5);
    if (!d) {
      const cands = drafts.filter((x) => !x.drop && !x.pass && sameTuple(x.tuple, tuple));
      d = [...cands].reverse().find((x) => lastDecision(x.steps)?.verdict === 'drop') ?? [...cands].reverse().find((x) => lastDecision(x.steps)?.verdict !== 'accept');
    }
    if (d) {
      d.drop = obs;
      d.sources.add('kfree_skb');
      if (d.tuple.tcpFlags === null) d.tuple.tcpFlags = tuple.tcpFlags;
      if (d.tuple.proto === null) d.tuple.proto = tuple.proto;
    } else {
      drafts.push({ t: e.t, tuple, iif: null, traceId: null, steps: [], drop: obs, pass: null, sources: new Set(['kfree_skb']) });
    }
  }

  drafts.sort((a, b) => a.t - b.t);
  return drafts.map((d, i) => {
    const nft = d.traceId !== null ? { traceId: d.traceId, steps: d.steps } : null;
    const hooks = d.pass && c.listing ? hookPasses(d.pass, c.listing) : null;
    const conntrack = d.pass && c.listing ? conntrackView(d.pass, c.listing) : null;
    const nat = d.pass ? natChanges(d.pass) : [];
    return {
      schemaVersion: FOLLOW_SCHEMA_VERSION, type: 'packet', id: i + 1, t: Math.round(d.t * 1e6) / 1e6, tuple: d.tuple, iif: d.iif,
      flow: flowKey(d.tuple), nft, drop: d.drop, hooks, conntrack, nat, fate: fateOf({ nft, drop: d.drop, hooks }), sources: [...d.sources].sort(),
    };
  });
}

/** conntrack events with their time made relative to follow's start (unix seconds at ready). */
export function ctEvents(raw: RawCtEvent[], readyUnix: number): ConntrackEvent[] {
  return raw.map((e) => ({
    t: e.time === null ? null : Math.round((e.time - readyUnix) * 1e6) / 1e6, event: e.event, proto: e.proto, state: e.state,
    original: e.original, reply: e.reply, flags: e.flags, id: e.id,
  }));
}

/** Flows: packets and fates by count; each conntrack event under the flow of its original tuple (either direction). */
export function summariseFlows(packets: FollowPacket[], events: ConntrackEvent[]): FlowSummary[] {
  const flows = new Map<string, FlowSummary>();
  const canon = (t: PacketTuple) => {
    const a = flowKey(t);
    const b = flowKey({ ...t, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport });
    return a < b ? a : b;
  };
  const byCanon = new Map<string, FlowSummary>();
  for (const p of packets) {
    const k = canon(p.tuple);
    let f = byCanon.get(k);
    if (!f) {
      f = { flow: p.flow, packets: 0, fates: {}, conntrack: [] };
      byCanon.set(k, f);
      flows.set(p.flow, f);
    }
    f.packets++;
    const label = fateLabel(p.fate);
    f.fates[label] = (f.fates[label] ?? 0) + 1;
  }
  for (const e of events) {
    const o = e.original;
    const tuple: PacketTuple = { family: null, proto: e.proto, src: o.src ?? null, dst: o.dst ?? null, sport: o.sport ? Number(o.sport) : null, dport: o.dport ? Number(o.dport) : null, tcpFlags: null };
    const k = canon(tuple);
    let f = byCanon.get(k);
    if (!f) {
      f = { flow: flowKey(tuple), packets: 0, fates: {}, conntrack: [] };
      byCanon.set(k, f);
      flows.set(f.flow, f);
    }
    f.conntrack.push(e);
  }
  return [...flows.values()];
}
