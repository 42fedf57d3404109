/**
 * follow's correlation: the events of each source (nf_tables' trace,
 * skb:kfree_skb drops, conntrack events) in, one record per packet and a
 * summary of flows out. Pure: no I/O.
 *
 * One identity per packet:
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
export function fateOf(p: Pick<FollowPacket, 'nft' | 'drop'>): Fate {
  const decision = p.nft ? lastDecision(p.nft.steps) : null;
  if (p.drop) {
    const byRule = decision && decision.verdict === 'drop' ? decision : null;
    const by = byRule
      ? `${byRule.family} ${byRule.table} ${byRule.chain}${byRule.kind === 'policy' ? ' policy' : byRule.handle !== null ? ` handle ${byRule.handle}` : ''}`
      : p.drop.location;
    return { kind: 'dropped', hook: byRule?.hook ?? p.drop.hook, by, reason: p.drop.reason };
  }
  if (decision?.verdict === 'drop') return { kind: 'dropped', hook: decision.hook, by: `${decision.family} ${decision.table} ${decision.chain}`, reason: null };
  if (decision) {
    return { kind: 'accepted', detail: `the last nf_tables decision was accept (${decision.family} ${decision.table} ${decision.chain}${decision.hook ? ` at ${decision.hook}` : ''}), and no drop of it was seen` };
  }
  return { kind: 'unknown', detail: 'no source saw a decision about this packet' };
}

export function fateLabel(f: Fate): string {
  if (f.kind === 'dropped') return `dropped${f.hook ? ` at ${f.hook}` : ''}${f.by ? ` by ${f.by}` : ''}`;
  return f.kind === 'accepted' ? 'accepted by netfilter' : 'unknown';
}

/** Builds the packets in the order they were first seen. */
export function correlate(c: Correlation): FollowPacket[] {
  type Draft = { t: number; tuple: PacketTuple; iif: string | null; traceId: string | null; steps: NftStep[]; drop: DropObservation | null; sources: Set<string> };
  const drafts: Draft[] = [];
  const openByTrace = new Map<string, Draft>();
  const isTraceChain = (l: NftTraceLine) => c.traceChain !== null && l.family === c.traceChain.family && l.table === c.traceChain.table && l.chain === c.traceChain.chain;
  // Events in time order across sources; equal times keep nft before drops (nft's trace of a packet
  // is emitted before the packet is freed).
  const all = [...c.nft.map((e) => ({ t: e.t, nft: e.ev, drop: null as RawDrop | null })), ...c.drops.map((e) => ({ t: e.t, nft: null, drop: e.ev }))]
    .map((e, i) => ({ ...e, i }))
    .sort((a, b) => a.t - b.t || (a.nft ? 0 : 1) - (b.nft ? 0 : 1) || a.i - b.i);
  for (const e of all) {
    if (e.nft) {
      const l = e.nft;
      let d = openByTrace.get(l.id);
      if (l.kind === 'packet' && (isTraceChain(l) || !d)) {
        d = {
          t: e.t, iif: l.packet.iif, traceId: l.id, steps: [], drop: null, sources: new Set(['nftrace']),
          tuple: { family: l.packet.family, proto: l.packet.proto, src: l.packet.src, dst: l.packet.dst, sport: l.packet.sport, dport: l.packet.dport, tcpFlags: l.packet.tcpFlags },
        };
        drafts.push(d);
        openByTrace.set(l.id, d);
        continue;
      }
      if (!d || l.kind === 'packet') continue;
      const hook = c.chainHooks.get(`${l.family} ${l.table} ${l.chain}`) ?? null;
      // nfscope's own trace rule is not a decision the user's ruleset made: left out.
      if (isTraceChain(l) && (l.kind !== 'policy' || l.verdict === 'accept')) continue;
      if (l.kind === 'rule') d.steps.push({ family: l.family, table: l.table, chain: l.chain, hook, kind: 'rule', handle: l.handle, rule: l.rule, verdict: l.verdict });
      else d.steps.push({ family: l.family, table: l.table, chain: l.chain, hook, kind: 'policy', handle: null, rule: null, verdict: l.verdict });
      continue;
    }
    const raw = e.drop!;
    const tuple = dropTuple(raw);
    const obs = dropObservation(raw, c.reasons);
    const cands = drafts.filter((d) => !d.drop && sameTuple(d.tuple, tuple));
    const byDrop = [...cands].reverse().find((d) => lastDecision(d.steps)?.verdict === 'drop');
    const open = [...cands].reverse().find((d) => lastDecision(d.steps)?.verdict !== 'accept');
    const d = byDrop ?? open;
    if (d) {
      d.drop = obs;
      d.sources.add('kfree_skb');
      if (d.tuple.tcpFlags === null) d.tuple.tcpFlags = tuple.tcpFlags;
    } else {
      drafts.push({ t: e.t, tuple, iif: null, traceId: null, steps: [], drop: obs, sources: new Set(['kfree_skb']) });
    }
  }
  return drafts.map((d, i) => {
    const nft = d.traceId !== null ? { traceId: d.traceId, steps: d.steps } : null;
    return {
      schemaVersion: FOLLOW_SCHEMA_VERSION, type: 'packet', id: i + 1, t: Math.round(d.t * 1e6) / 1e6, tuple: d.tuple, iif: d.iif,
      flow: flowKey(d.tuple), nft, drop: d.drop, fate: fateOf({ nft, drop: d.drop }), sources: [...d.sources].sort(),
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
