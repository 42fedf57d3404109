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
import { Ring } from '../model/bounded.js';
import { hookFromStack } from '../model/stack-hooks.js';
import {
  FOLLOW_SCHEMA_VERSION, type ConntrackEvent, type DropObservation, type Fate, type FlowSummary, type FollowPacket, type NftStep, type PacketTuple, type ConntrackEntryVerdict,
  type CountedPart, type PathEntry, type PathSummary,
} from '../model/follow.js';
import type { NftTraceLine } from '../parsers/nft-trace.js';
import { tcpFlagNames, type RawDrop } from '../parsers/follow-drop.js';
import type { RawCtEvent } from '../parsers/conntrack-events.js';
import type { CbPathMark, CbRecord } from '../parsers/follow-cb.js';
import type { HookList } from '../model/hooks.js';
import { conntrackView, ctWords, hookPasses, MAX_PATHS, natChanges, PassBuilder, rewriteOf, verdictName, type BookEntry, type CbPass } from './follow-passes.js';

/** A source's event with the time follow received it (seconds since ready). */
export interface Timed<T> { t: number; ev: T }

export interface Correlation {
  nft: Timed<NftTraceLine>[];
  drops: Timed<RawDrop>[];
  /** "family table chain" → netfilter hook of that base chain (LOCAL_IN, ...). */
  chainHooks: Map<string, string>;
  /** nfscope's trace table (family, table; chain: its prerouting chain): its `packet:` lines start packets. */
  traceChain: { family: string; table: string; chain: string } | null;
  /** skb:kfree_skb reason numbers → names, from the tracepoint format. */
  reasons: Map<number, string>;
  /** bpf/follow_cb.bt's records, where the target has kprobes; null otherwise. */
  callbacks?: Timed<CbRecord>[] | null;
  /** The netns's hook listing the callbacks are laid over. */
  listing?: HookList[] | null;
  /** The callback tracer kept paths in the kernel (S records): a drop joins by skb only a pass that ended it. */
  paths?: boolean;
}

const PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
const protoName = (n: number): string => PROTO[n] ?? String(n);

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
    family: d.ipver === 4 ? 'ipv4' : 'ipv6', proto: protoName(d.proto), src: d.src, dst: d.dst,
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
  // nf_tables frees a packet it drops itself and returns STOLEN (NF_DROP_REASON: 6.7+, Debian's
  // 6.1.192): with its trace saying drop at that hook, it is a drop (past the 64 detailed drops the
  // kfree_skb record that would say so is only counted).
  if (ender?.verdict === 'STOLEN' && decision?.verdict === 'drop' && decision.hook === ender.hook) {
    return { kind: 'dropped', hook: ender.hook, by: ruleName(decision), reason: null };
  }
  if (ender?.verdict === 'STOLEN') return { kind: 'stolen', hook: ender.hook, by: ender.callback };
  if (ender?.verdict === 'QUEUE') return { kind: 'queued', hook: ender.hook, by: ender.callback };
  if (decision?.verdict === 'drop') return { kind: 'dropped', hook: decision.hook, by: ruleName(decision), reason: null };
  if (lastHook) {
    const where = lastHook === 'LOCAL_IN' ? 'delivered to the local stack' : lastHook === 'POST_ROUTING' ? 'sent out' : `passed ${lastHook}`;
    return { kind: 'accepted', detail: `${where}: every callback it met accepted it (last hook ${lastHook}), and no drop of it was seen`, hook: lastHook };
  }
  if (decision) {
    return { kind: 'accepted', detail: `the last nf_tables decision was accept (${decision.family} ${decision.table} ${decision.chain}${decision.hook ? ` at ${decision.hook}` : ''}), and no drop of it was seen`, hook: decision.hook };
  }
  return { kind: 'unknown', detail: 'no source saw a decision about this packet' };
}

/**
 * The entry's end, from the packet's callbacks, conntrack's view after them and its fate; null
 * without both. ctinfo stays NEW (or RELATED) for every packet of a flow until a reply is seen, so a
 * confirmed entry under NEW may be this packet's or an earlier one's: `confirmed`, not "created".
 * An unconfirmed one is this packet's own (lookups never find another skb's unconfirmed entry).
 * The view is the last one read (at the end of a hook whose callbacks all accepted): a drop inside a
 * later hook leaves it from before that hook, so "never confirmed" also needs that no confirm
 * callback ran to its end (verdict ACCEPT) or may have (not seen): the priority trick's drop chain
 * runs after confirm.
 */
export function entryOf(p: Pick<FollowPacket, 'hooks' | 'conntrack' | 'fate'>): ConntrackEntryVerdict | null {
  const ct = p.conntrack;
  if (!p.hooks || !ct) return null;
  if (ct.ctinfo === 'INVALID (no entry)') return { kind: 'no entry', evidence: `no conntrack entry was attached to it after ${ct.after}` };
  if (ct.ctinfo === 'UNTRACKED') return { kind: 'untracked', evidence: `marked untracked (after ${ct.after}): conntrack keeps no entry for it` };
  const original = ct.ctinfo === 'NEW' || ct.ctinfo === 'RELATED';
  if (!original) return { kind: 'existing entry', evidence: `an entry conntrack already had (${ct.ctinfo} after ${ct.after})` };
  if (ct.status.includes('confirmed')) {
    return { kind: 'confirmed', evidence: `${ct.ctinfo} after ${ct.after} and confirmed: made by this packet, or by an earlier one of its flow that had no reply yet` };
  }
  const confirms = p.hooks.flatMap((h) => h.callbacks.filter((c) => c.conntrack && /confirm/.test(c.callback)).map((c) => ({ at: `${c.callback} at ${h.hook}`, verdict: c.verdict })));
  const ran = confirms.filter((c) => c.verdict === 'ACCEPT' || c.verdict === 'not seen');
  if (p.fate.kind === 'dropped' && ran.length === 0) {
    const unreached = confirms.filter((c) => c.verdict === 'not reached').map((c) => c.at);
    return {
      kind: 'created, never confirmed',
      evidence: `${ct.ctinfo} after ${ct.after}, never confirmed: ${fateLabel(p.fate)} before ${unreached.length ? unreached.join(', ') : 'any confirm callback'} ran; an unconfirmed entry is freed with its packet, and conntrack -E never reports it`,
    };
  }
  return { kind: 'created, confirmation not seen', evidence: `${ct.ctinfo} after ${ct.after}, not confirmed when its view was last read (${fateLabel(p.fate)}${ran.length ? `; ${ran.map((c) => `${c.at} ${c.verdict}`).join(', ')}` : ''})` };
}

export function fateLabel(f: Fate): string {
  if (f.kind === 'dropped') return `dropped${f.hook ? ` at ${f.hook}` : ''}${f.by ? ` by ${f.by}` : ''}`;
  if (f.kind === 'stolen' || f.kind === 'queued') return `${f.kind}${f.hook ? ` at ${f.hook}` : ''} by ${f.by}`;
  return f.kind === 'accepted' ? 'accepted by netfilter' : 'unknown';
}

type Draft = {
  t: number; last: number; tuple: PacketTuple; iif: string | null; traceId: string | null; steps: NftStep[]; drop: DropObservation | null;
  pass: CbPass | null; sources: Set<string>;
  /** Paths mode: a drop that could not be joined to its packet's hook passes (they may have been counted). */
  lone?: true;
};

/** A pass that ended in anything but ACCEPT (its last call's return says so). */
function passEnded(p: CbPass): boolean {
  const last = p.calls.at(-1);
  return !!last?.ret && last.ret.verdict !== 1;
}

function passTuple(p: CbPass): PacketTuple {
  // The packet's own first call: a counted one is an earlier packet's (its client port, its tuple before NAT).
  const first = (p.calls.find((c) => !c.counted) ?? p.calls[0]!).call;
  return {
    family: p.family === 'ipv6' ? 'ipv6' : 'ipv4', proto: first.proto === undefined ? null : protoName(first.proto), src: p.tuple?.src ?? null, dst: p.tuple?.dst ?? null,
    sport: first.sport || null, dport: first.dport || null, tcpFlags: null,
  };
}

/** What the correlation needs besides the events. */
export type CorrelationContext = Omit<Correlation, 'nft' | 'drops' | 'callbacks'> & { withCallbacks: boolean };

/**
 * The correlation, event by event: follow feeds each source's events as they come and takes
 * the packets that have settled (no event for settleS), in the order first seen. A packet
 * taken is forgotten: memory holds only the packets in flight, whatever the run's length.
 * Events of one packet may come from its sources in any order: a callback pass and an nf_tables
 * trace of the same tuple merge whichever comes first.
 */
export class Correlator {
  private drafts: Draft[] = [];
  private readonly openByTrace = new Map<string, Draft>();
  private readonly byPass = new Map<CbPass, Draft>();
  private readonly passes = new PassBuilder();
  private nextId = 1;
  /** Drops waiting until the callback stream has passed their time (skb addresses are reused). */
  private pendingDrops: { t: number; raw: RawDrop }[] = [];
  private lastCbNsecs = 0;

  constructor(private readonly c: CorrelationContext) {}

  /**
   * A line of nfscope's trace table. Its base chains (prerouting, output) are the first a packet
   * meets on its way in or out: a `packet:` line there starts a packet (the trace id alone does not:
   * it is a hash of the skb, reused within a connection).
   */
  private isTraceChain(l: NftTraceLine): boolean {
    const tc = this.c.traceChain;
    return tc !== null && l.family === tc.family && l.table === tc.table;
  }

  /** Packets nf_tables' trace started (whether or not they were taken yet). */
  nftPackets = 0;

  /** Paths mode: the H record's calls that follow are the pass this mark names. */
  pathMark(_t: number, m: CbPathMark): void {
    this.passes.mark(m);
  }

  /** Paths mode: an H record whose mark was lost. */
  unmarked(skb: string): void {
    this.passes.unmarked(skb);
  }

  /** Paths mode: the packet first printed with each signature (the first MAX_PATHS). */
  private readonly sigPacket = new Map<string, number>();

  callback(t: number, ev: CbRecord): void {
    this.lastCbNsecs = Math.max(this.lastCbNsecs, ev.nsecs);
    const r = this.passes.add(t, ev);
    this.resolveDrops(false);
    if (!r) return;
    if (r.started) {
      const tuple = passTuple(r.pass);
      // The same packet seen first by nf_tables' trace (the tracers' output can lag behind nft's):
      // the first trace of the same tuple not yet joined (a pass is one skb on one path).
      const d = this.drafts.find((x) => !x.pass && x.traceId !== null && !x.drop && sameTuple(x.tuple, tuple));
      if (d) {
        d.pass = r.pass;
        d.sources.add('callbacks');
        d.t = Math.min(d.t, t);
        d.last = Math.max(d.last, t);
        this.byPass.set(r.pass, d);
        return;
      }
      const nd: Draft = { t, last: t, tuple, iif: null, traceId: null, steps: [], drop: null, pass: r.pass, sources: new Set(['callbacks']) };
      this.drafts.push(nd);
      this.byPass.set(r.pass, nd);
      return;
    }
    const d = this.byPass.get(r.pass);
    if (d) d.last = Math.max(d.last, t);
  }

  nft(t: number, l: NftTraceLine): void {
    let d = this.openByTrace.get(l.id);
    if (l.kind === 'packet' && (this.isTraceChain(l) || !d)) {
      this.nftPackets++;
      const tuple: PacketTuple = { family: l.packet.family, proto: l.packet.proto, src: l.packet.src, dst: l.packet.dst, sport: l.packet.sport, dport: l.packet.dport, tcpFlags: l.packet.tcpFlags };
      // The same packet seen first by the callbacks or the drop tracer (sources lag one another).
      d = this.drafts.find((x) => (x.pass || x.drop) && x.traceId === null && sameTuple(x.tuple, tuple));
      if (d) {
        d.traceId = l.id;
        d.tuple = { ...d.tuple, proto: tuple.proto, tcpFlags: tuple.tcpFlags, family: tuple.family };
        d.iif = l.packet.iif;
        d.sources.add('nftrace');
        d.t = Math.min(d.t, t);
        d.last = Math.max(d.last, t);
      } else {
        d = { t, last: t, iif: l.packet.iif, traceId: l.id, steps: [], drop: null, pass: null, sources: new Set(['nftrace']), tuple };
        this.drafts.push(d);
      }
      this.openByTrace.set(l.id, d);
      return;
    }
    if (!d || l.kind === 'packet') return;
    d.last = Math.max(d.last, t);
    const hook = this.c.chainHooks.get(`${l.family} ${l.table} ${l.chain}`) ?? null;
    // nfscope's own trace rule is not a decision the user's ruleset made: left out.
    if (this.isTraceChain(l) && (l.kind !== 'policy' || l.verdict === 'accept')) return;
    // A chain that ran out of rules without a decision (`verdict continue`) decided nothing: left out.
    if (l.kind === 'verdict' && l.verdict === 'continue') return;
    if (l.kind === 'rule') d.steps.push({ family: l.family, table: l.table, chain: l.chain, hook, kind: 'rule', handle: l.handle, rule: l.rule, verdict: l.verdict });
    else d.steps.push({ family: l.family, table: l.table, chain: l.chain, hook, kind: 'policy', handle: null, rule: null, verdict: l.verdict });
  }

  drop(t: number, raw: RawDrop): void {
    this.pendingDrops.push({ t, raw });
    this.resolveDrops(false);
  }

  /**
   * A drop joins the pass of its skb that started last before it, by the kernel's clock (both
   * tracers print bpftrace's nsecs). The callback tracer's lines can come later than the drop
   * tracer's, and a freed skb's address is soon reused: a drop waits until the callbacks seen
   * have passed its time (or, `all`, the run settles).
   */
  private resolveDrops(all: boolean): void {
    const ready = this.pendingDrops.filter((p) => all || !this.c.withCallbacks || p.raw.nsecs < this.lastCbNsecs);
    if (!ready.length) return;
    this.pendingDrops = this.pendingDrops.filter((p) => !ready.includes(p));
    for (const p of ready) this.joinDrop(p.t, p.raw);
  }

  private joinDrop(t: number, raw: RawDrop): void {
    const tuple = dropTuple(raw);
    const obs = dropObservation(raw, this.c.reasons);
    // By skb address where a pass has it; else the newest packet of the tuple seen before the
    // drop (one seen after only if none was before), one whose trace ended in drop first.
    let d: Draft | undefined;
    for (const x of this.drafts) {
      if (x.drop || x.pass?.skb !== raw.skb) continue;
      // Paths mode: a later packet on this skb may have had its passes counted, not printed; only a
      // pass that ended the packet (always printed) is surely the dropped packet's.
      if (this.c.paths && !passEnded(x.pass)) continue;
      const start = x.pass.calls[0]!.call.nsecs;
      if (start <= raw.nsecs && (!d || start > d.pass!.calls[0]!.call.nsecs)) d = x;
    }
    if (!d) {
      const all = this.drafts.filter((x) => !x.drop && !x.pass && sameTuple(x.tuple, tuple));
      const before = all.filter((x) => x.t <= t).reverse();
      const cands = before.length ? before : all;
      d = cands.find((x) => lastDecision(x.steps)?.verdict === 'drop') ?? cands.find((x) => lastDecision(x.steps)?.verdict !== 'accept');
    }
    if (d) {
      d.drop = obs;
      d.sources.add('kfree_skb');
      d.last = Math.max(d.last, t);
      if (d.tuple.tcpFlags === null) d.tuple.tcpFlags = tuple.tcpFlags;
      if (d.tuple.proto === null) d.tuple.proto = tuple.proto;
    } else {
      this.drafts.push({ t, last: t, tuple, iif: null, traceId: null, steps: [], drop: obs, pass: null, sources: new Set(['kfree_skb']), ...(this.c.paths ? { lone: true as const } : {}) });
    }
  }

  /** Packets whose last event is older than settleS at `now` (all of them when `final`), first seen first. */
  take(now: number, settleS: number, final = false): FollowPacket[] {
    // Drops the callback stream never passed (no later callback fired): settled ones join now.
    const old = this.pendingDrops.filter((p) => final || now - p.t >= settleS / 2);
    if (old.length) {
      this.pendingDrops = this.pendingDrops.filter((p) => !old.includes(p));
      for (const p of old) this.joinDrop(p.t, p.raw);
    }
    this.drafts.sort((a, b) => a.t - b.t);
    const out: FollowPacket[] = [];
    let k = 0;
    for (; k < this.drafts.length; k++) {
      const d = this.drafts[k]!;
      if (!final && now - d.last < settleS) break;
      // A pass whose drop may still be pending stays until that drop is joined.
      if (!final && d.pass && this.pendingDrops.some((p) => p.raw.skb === d.pass!.skb)) break;
      out.push(this.packet(d));
      if (d.traceId !== null && this.openByTrace.get(d.traceId) === d) this.openByTrace.delete(d.traceId);
      if (d.pass) { this.passes.forget(d.pass); this.byPass.delete(d.pass); }
    }
    this.drafts = this.drafts.slice(k);
    return out;
  }

  get inFlight(): number {
    return this.drafts.length;
  }

  private packet(d: Draft): FollowPacket {
    const nft = d.traceId !== null ? { traceId: d.traceId, steps: d.steps } : null;
    const listing = this.c.listing ?? null;
    const hooks = d.pass && listing ? hookPasses(d.pass, listing) : null;
    const conntrack = d.pass && listing ? conntrackView(d.pass, listing) : null;
    const nat = d.pass ? natChanges(d.pass) : [];
    let fate = fateOf({ nft, drop: d.drop, hooks });
    // Paths mode: a drop outside the hooks after an accepted pass is not joined to it (the skb may be another packet's by then).
    if (this.c.paths && fate.kind === 'accepted') fate = { ...fate, detail: fate.detail.replace(', and no drop of it was seen', '; a drop of it after the hooks would be shown on its own (paths mode joins a drop only to the pass that ended its packet)') };
    const id = this.nextId++;
    for (const s of d.pass?.sigs ?? []) if (!this.sigPacket.has(s) && this.sigPacket.size < MAX_PATHS) this.sigPacket.set(s, id);
    return {
      schemaVersion: FOLLOW_SCHEMA_VERSION, type: 'packet', id, t: Math.round(d.t * 1e6) / 1e6, tuple: d.tuple, iif: d.iif,
      flow: flowKey(d.tuple), nft, drop: d.drop, hooks, conntrack, entry: entryOf({ hooks, conntrack, fate }), nat, fate, socket: null, sources: [...d.sources].sort(),
      ...(this.c.paths ? { counted: this.countedPart(d) } : {}),
    };
  }

  private countedPart(d: Draft): CountedPart | null {
    if (d.lone) {
      return { hooks: [], asPacket: null, note: 'a drop outside the hooks, not joined to hook passes: in paths mode a packet\'s passes may have been counted, not printed, and its skb\'s address reused (--every-packet joins them)' };
    }
    const c = d.pass?.counted;
    if (!c) return null;
    const asPacket = this.sigPacket.get(c.parent) ?? null;
    if (c.parent === '1') {
      return { hooks: [], asPacket: null, note: 'its hooks before this one are not known: no pass of it was kept before this hook (it matched the filter only here, after NAT, or the kernel\'s map of open packets was full)' };
    }
    if (!c.known) {
      return { hooks: c.hooks, asPacket, note: 'its hooks before the first printed one were counted by the kernel, and the pass printed with their signature was not kept (lost, or before follow was ready): not shown' };
    }
    return { hooks: c.hooks, asPacket, note: `its ${c.hooks.join(', ')} pass${c.hooks.length > 1 ? 'es were' : ' was'} counted by the kernel under the signature of ${asPacket !== null ? `packet #${asPacket}'s` : 'a pass printed before'}: the same callbacks, verdicts, conntrack view, addresses and service port; shown from that record` };
  }

  /**
   * The paths packets took: each signature printed, by where packets' paths ended. A signature's
   * passes are the times it was printed and the kernel's count of the rest (counts: null when
   * unknown); those that ended there are its passes less its children's.
   */
  paths(mode: PathSummary['mode'], why: string, countsIn: Map<string, number> | null, doubts: string[] = []): PathSummary {
    if (mode === 'every-packet') return { mode, why, countedPasses: null, list: [], notKept: 0, countsUnknown: null };
    const book = this.passes.book;
    // A count whose signature was never printed here (its record lost, or printed before follow was ready).
    const orphans = countsIn ? [...countsIn.keys()].filter((s) => !book.has(s)).length : 0;
    const why2 = [...doubts, ...(orphans ? [`${orphans} signature(s) the kernel counted were never printed here`] : []), ...(this.passes.bookNotKept ? [`${this.passes.bookNotKept} printed pass(es) past the ${MAX_PATHS} paths kept`] : [])];
    const counts = why2.length ? null : countsIn;
    const total = (s: string) => book.get(s)!.printed + (counts?.get(s) ?? 0);
    const children = new Map<string, string[]>();
    for (const [s, e] of book) if (e.parent !== '0') children.set(e.parent, [...(children.get(e.parent) ?? []), s]);
    const list: PathEntry[] = [];
    for (const [s] of book) {
      const ended = total(s) - (children.get(s) ?? []).filter((c) => book.has(c)).reduce((n, c) => n + total(c), 0);
      if (counts !== null && ended <= 0) continue;
      if (counts === null && (children.get(s) ?? []).length) continue;
      const chain: string[] = [];
      const seen = new Set<string>();
      for (let x: string = s; x !== '0' && book.has(x) && !seen.has(x); x = book.get(x)!.parent) { seen.add(x); chain.unshift(x); }
      list.push({ hooks: chain.map((x) => hookLabel(book.get(x)!)), flow: pathFlow(book.get(s)!), packets: counts === null ? null : ended, firstPacket: this.sigPacket.get(s) ?? null });
    }
    const countedPasses = countsIn === null ? null : [...countsIn.values()].reduce((a, b) => a + b, 0);
    return { mode, why, countedPasses, list, notKept: this.passes.bookNotKept, countsUnknown: countsIn === null ? 'the kernel\'s counts were not read' : why2.length ? why2.join('; ') : null };
  }
}

/**
 * "PRE_ROUTING ACCEPT, nat by nf_nat_ipv4_pre_routing (ct NEW)", "LOCAL_IN DROP by nft_do_chain_inet":
 * a signature's hook, how it ended, which callbacks rewrote the packet, and conntrack's view after
 * it (the parts of the signature a reader tells paths apart by).
 */
function hookLabel(e: BookEntry): string {
  const last = e.calls.at(-1);
  if (!last?.ret) return `${e.hook} (no verdict seen)`;
  const rewrote = e.calls.filter((c) => rewriteOf(c)).map((c) => c.call.callback);
  const ct = ctWords(last.ret);
  const verdict = last.ret.verdict === 1 ? 'ACCEPT' : `${verdictName(last.ret.verdict)} by ${last.call.callback}`;
  return `${e.hook} ${verdict}${rewrote.length ? `, rewritten by ${rewrote.join(', ')}` : ''}${ct ? ` (ct ${ct})` : ''}`;
}

/** A signature's flow: its first pass's tuple, the higher port (a client's, which the signature leaves out) as *. */
function pathFlow(e: BookEntry): string {
  const c = e.calls[0]!.call;
  const tu = c.tuple;
  const proto = c.proto === undefined ? '?' : protoName(c.proto);
  if (!tu) return `${proto} ?`;
  const v6 = tu.src.includes(':');
  const ep = (a: string, p: number, other: number) => (c.proto !== 6 && c.proto !== 17 ? a : `${v6 ? `[${a}]` : a}:${p <= other ? p : '*'}`);
  return `${proto} ${ep(tu.src, tu.sport, tu.dport)} > ${ep(tu.dst, tu.dport, tu.sport)}`;
}

/**
 * The batch form: every event of a run at once. Callback passes go first (the skb address gives
 * each its identity), then the nf_tables trace, then the drops, each in time order.
 */
export function correlate(c: Correlation): FollowPacket[] {
  const k = new Correlator({ ...c, withCallbacks: !!c.callbacks });
  for (const e of c.callbacks ?? []) k.callback(e.t, e.ev);
  for (const e of c.nft) k.nft(e.t, e.ev);
  for (const e of c.drops) k.drop(e.t, e.ev);
  return k.take(Infinity, 0, true);
}

/** conntrack events with their time made relative to follow's start (unix seconds at ready). */
export function ctEvents(raw: RawCtEvent[], readyUnix: number): ConntrackEvent[] {
  return raw.map((e) => ({
    t: e.time === null ? null : Math.round((e.time - readyUnix) * 1e6) / 1e6, event: e.event, proto: e.proto, state: e.state,
    original: e.original, reply: e.reply, flags: e.flags, id: e.id,
  }));
}

/** A flow's conntrack events kept: its first ones (NEW, the first UPDATEs) and its last ones (DESTROY). */
export const FLOW_CT_FIRST = 10;
export const FLOW_CT_LAST = 10;
/**
 * Flows kept in the summary. A flood from random ports makes a flow per packet; past this the
 * packets and events of new flows are counted only (issue 26: bounded memory for any duration).
 */
export const MAX_FLOWS = 10_000;

interface FlowEntry { flow: string; packets: number; fates: Record<string, number>; ctFirst: ConntrackEvent[]; ctLast: Ring<ConntrackEvent> }

/** Flows, as packets are taken: packets and fates by count; conntrack events under the flow of their tuple (either direction). */
export class FlowSummer {
  private readonly byCanon = new Map<string, FlowEntry>();
  readonly notKept = { flows: 0, packets: 0, conntrackEvents: 0, notPrinted: 0 };
  /** Canonical keys of flows not kept, while few: counted once each (past MAX_FLOWS of them, each sighting counts). */
  private readonly unkept = new Set<string>();

  constructor(private readonly maxFlows = MAX_FLOWS) {}

  private static canon(t: PacketTuple): string {
    const a = flowKey(t);
    const b = flowKey({ ...t, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport });
    return a < b ? a : b;
  }

  private flow(t: PacketTuple): FlowEntry | null {
    const k = FlowSummer.canon(t);
    let f = this.byCanon.get(k);
    if (f) return f;
    if (this.byCanon.size >= this.maxFlows) {
      if (!this.unkept.has(k)) {
        this.notKept.flows++;
        if (this.unkept.size < this.maxFlows) this.unkept.add(k);
      }
      return null;
    }
    this.byCanon.set(k, (f = { flow: flowKey(t), packets: 0, fates: {}, ctFirst: [], ctLast: new Ring(FLOW_CT_LAST) }));
    return f;
  }

  add(p: FollowPacket): void {
    const f = this.flow(p.tuple);
    if (!f) { this.notKept.packets++; return; }
    f.packets++;
    const label = fateLabel(p.fate);
    f.fates[label] = (f.fates[label] ?? 0) + 1;
  }

  conntrack(e: ConntrackEvent): void {
    const o = e.original;
    // The family decides how an IPv6 flow is written ([addr]:port), so that its packets' flow is the same.
    const f = this.flow({ family: o.src?.includes(':') ? 'ipv6' : o.src ? 'ipv4' : null, proto: e.proto, src: o.src ?? null, dst: o.dst ?? null, sport: o.sport ? Number(o.sport) : null, dport: o.dport ? Number(o.dport) : null, tcpFlags: null });
    if (!f) { this.notKept.conntrackEvents++; return; }
    if (f.ctFirst.length < FLOW_CT_FIRST) f.ctFirst.push(e);
    else f.ctLast.push(e);
  }

  get flows(): FlowSummary[] {
    return [...this.byCanon.values()].map((f) => ({
      flow: f.flow, packets: f.packets, fates: f.fates, conntrack: [...f.ctFirst, ...f.ctLast.values()], conntrackNotKept: f.ctLast.dropped,
    }));
  }
}

export function summariseFlows(packets: FollowPacket[], events: ConntrackEvent[]): FlowSummary[] {
  const s = new FlowSummer();
  for (const p of packets) s.add(p);
  for (const e of events) s.conntrack(e);
  return s.flows;
}
