/**
 * Two follow runs compared by the paths their packets took (`follow --diff`). A packet's path is
 * what it met in order: each hook's callbacks with their verdicts, the nf_tables rules that
 * matched (at the hook whose nft_do_chain ran them), conntrack's view, NAT's rewrites, and its
 * fate. A step one of the runs could not observe (callbacks on a kernel without kprobes, rules
 * without --nftrace) is left out of both, so that a difference is one of the packets, never one
 * of the instruments. Pure; bounded (MAX_KINDS kinds, MAX_PATHS_PER_KIND paths a kind a run).
 */
import { TRACE_PRIORITY, type FollowPacket, type FollowSummary, type NftStep } from '../model/follow.js';
import {
  FOLLOW_DIFF_SCHEMA_VERSION, type FollowDiffKind, type FollowDiffReport, type FollowDiffSide, type FollowPathCount,
} from '../model/follow-diff.js';
import { fateLabel, fateOf } from './follow.js';

export const MAX_KINDS = 200;
export const MAX_PATHS_PER_KIND = 20;


/**
 * What a packet is, for pairing packets of two runs whose addresses and ephemeral ports differ:
 * family, protocol, TCP flags, and the lower of its two ports (the service's, for a client's
 * ephemeral port) with the direction to it.
 */
export function packetKind(p: FollowPacket): string {
  const t = p.tuple;
  const head = [t.family ?? 'ip?', t.proto ?? 'proto?', ...(t.tcpFlags?.length ? [t.tcpFlags.join(',')] : [])].join(' ');
  if (t.sport === null || t.dport === null) return head;
  const port = Math.min(t.sport, t.dport);
  return `${head} ${t.dport === port ? 'to' : 'from'} port ${port}`;
}

export interface Observed { callbacks: boolean; nftrace: boolean }

const counters = (rule: string) => rule.replace(/\bcounter packets \d+ bytes \d+/g, 'counter');
const nftStep = (s: NftStep) =>
  `${s.hook ?? '(no hook)'} nft ${s.family} ${s.table} ${s.chain}: ${s.kind === 'policy' ? 'policy' : s.rule !== null ? counters(s.rule) : 'a rule nft could not print'} → ${s.verdict}`;
type Ends = { src: string; dst: string; sport: number; dport: number };
/**
 * What a NAT rewrite changed, without what differs from one connection to the next: the server's
 * side by value (a DNAT's new address and port), the client's address by value (SNAT), its port
 * only as "changed" (an ephemeral port, or a random one from the rewrite).
 */
function natChange(b: Ends, a: Ends): string {
  const parts = [
    b.dst !== a.dst || b.dport !== a.dport ? `destination → ${a.dst} port ${a.dport}` : null,
    b.src !== a.src ? `source → ${a.src}` : null,
    b.sport !== a.sport ? 'source port changed' : null,
  ];
  return parts.filter(Boolean).join(', ');
}

/** The packet's path, from the sources `use` names (and only what this packet has of them). */
export function packetPath(p: FollowPacket, use: Observed): string[] {
  const steps: string[] = [];
  const hooks = use.callbacks ? p.hooks : null;
  const nft = use.nftrace && p.nft ? p.nft.steps : [];
  const nftDone = new Set<NftStep>();
  for (const h of hooks ?? []) {
    for (const c of h.callbacks) {
      if (c.verdict === 'not reached' || (c.priority === TRACE_PRIORITY && c.callback === 'nft_do_chain_inet')) continue;
      steps.push(`${h.hook} ${c.callback} ${c.verdict}`);
      // The rules nf_tables ran at this hook belong under its callback.
      if (c.callback.startsWith('nft_do_chain')) {
        for (const s of nft) if (!nftDone.has(s) && s.hook === h.hook) { nftDone.add(s); steps.push(`  ${nftStep(s)}`); }
      }
    }
  }
  for (const s of nft) if (!nftDone.has(s)) steps.push(nftStep(s));
  if (hooks) {
    if (p.conntrack) steps.push(`conntrack ${p.conntrack.ctinfo}${p.conntrack.status.length ? ` [${p.conntrack.status.join(',')}]` : ''} after ${p.conntrack.after}`);
    for (const n of p.nat) steps.push(`${n.hook} nat by ${n.callback}: ${natChange(n.before, n.after)}`);
  }
  // The fate from the same sources: a rule's handle is the ruleset's, not the packet's.
  const f = fateOf({ nft: use.nftrace ? p.nft : null, drop: p.drop, hooks });
  const fate = f.kind === 'dropped' ? `${fateLabel({ ...f, by: f.by?.replace(/ handle \d+$/, '') ?? null })}${f.reason ? ` (${f.reason})` : ''}`
    : f.kind === 'accepted' ? `accepted${f.hook ? ` at ${f.hook}` : ''}` : fateLabel(f);
  steps.push(`fate: ${fate}`);
  return steps;
}

interface Seen { count: number; first: FollowPacket }

/** One run, as it is read: packets by kind and by full path (every source it has), the summary. */
export class RunTally {
  readonly kinds = new Map<string, Map<string, Seen>>();
  packets = 0;
  notKept = { kinds: 0, packets: 0 };
  summary: FollowSummary | null = null;
  /** Whether every packet had callbacks (hooks) and an nf_tables trace: what a run without a summary observed. */
  private had: Observed = { callbacks: true, nftrace: true };
  /** A packet of paths mode was read (it carries `counted`, null or not): the run printed each path once, not every packet. */
  private pathsPacket = false;

  /** The run kept paths in the kernel (its summary says so, or its packets do): its packet counts are not frequencies. */
  get pathsKept(): boolean {
    return this.pathsPacket || this.summary?.paths?.mode === 'paths' && this.summary.sources.some((x) => x.name === 'callbacks' && x.available);
  }

  add(p: FollowPacket): void {
    this.packets++;
    if (p.counted !== undefined) this.pathsPacket = true;
    if (p.hooks === null) this.had.callbacks = false;
    if (p.nft === null) this.had.nftrace = false;
    const kind = packetKind(p);
    let paths = this.kinds.get(kind);
    if (!paths) {
      if (this.kinds.size >= MAX_KINDS) { this.notKept.kinds++; this.notKept.packets++; return; }
      this.kinds.set(kind, (paths = new Map()));
    }
    const key = packetPath(p, { callbacks: true, nftrace: true }).join('\n');
    const s = paths.get(key);
    if (s) s.count++;
    else if (paths.size >= MAX_PATHS_PER_KIND) this.notKept.packets++;
    else paths.set(key, { count: 1, first: p });
  }

  /**
   * What the run observed: its summary's sources where it has one (a packet a source missed, a
   * lost event, does not take the source away from the whole run); else what every packet had.
   */
  observed(): Observed {
    const src = this.summary?.sources;
    if (!src) return this.had;
    const on = (name: string) => src.some((x) => x.name === name && x.available);
    return { callbacks: on('callbacks'), nftrace: on('nftrace') };
  }

  side(source: string): FollowDiffSide {
    const s = this.summary;
    return { source, kernel: s?.kernel ?? null, target: s?.target ?? null, packets: this.packets, observed: s ? s.sources.filter((x) => x.available).map((x) => x.name) : null };
  }
}

/** A kind's paths as compared: projected onto what both runs observed, equal ones merged, most frequent first. */
function projected(paths: Map<string, Seen> | undefined, use: Observed): FollowPathCount[] {
  const out = new Map<string, FollowPathCount>();
  for (const s of paths?.values() ?? []) {
    const steps = packetPath(s.first, use);
    const k = steps.join('\n');
    const o = out.get(k);
    if (o) { o.count += s.count; o.firstPacket = Math.min(o.firstPacket, s.first.id); } else out.set(k, { count: s.count, firstPacket: s.first.id, steps });
  }
  return [...out.values()].sort((x, y) => y.count - x.count || x.firstPacket - y.firstPacket);
}

/** How many steps two paths share from their start. */
function sharedPrefix(x: string[], y: string[]): number {
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return i;
}
const same = (x: string[], y: string[]) => x.length === y.length && sharedPrefix(x, y) === x.length;

/** The path of `among` that shares the longest beginning with `steps` (the first of equals: the more frequent). */
function closest(steps: string[], among: FollowPathCount[]): string[] {
  return among.reduce((best, p) => (sharedPrefix(p.steps, steps) > sharedPrefix(best, steps) ? p.steps : best), among[0]!.steps);
}

function firstDifference(x: string[], y: string[]): FollowDiffKind['firstDifference'] {
  const i = sharedPrefix(x, y);
  if (i === x.length && i === y.length) return null;
  return { index: i, a: x[i] ?? null, b: y[i] ?? null, after: i > 0 ? x[i - 1]! : null };
}

export function compareRuns(a: RunTally, aSource: string, b: RunTally, bSource: string): FollowDiffReport {
  const seen = new Map([[a, a.observed()], [b, b.observed()]]);
  const [oa, ob] = [seen.get(a)!, seen.get(b)!];
  const use: Observed = { callbacks: oa.callbacks && ob.callbacks, nftrace: oa.nftrace && ob.nftrace };
  const notes: string[] = [];
  const sideName = (t: RunTally) => (t === a ? `a (${aSource})` : `b (${bSource})`);
  for (const [t, o] of [[a, b], [b, a]] as const) {
    const [ot, oo] = [seen.get(t)!, seen.get(o)!];
    if (t.packets && o.packets && ot.callbacks && !oo.callbacks) notes.push(`${sideName(t)} saw each callback, ${sideName(o)} did not: callbacks, conntrack's view and NAT are left out of both paths`);
    if (t.packets && o.packets && ot.nftrace && !oo.nftrace) notes.push(`${sideName(t)} traced nf_tables' rules, ${sideName(o)} did not (--nftrace): rule steps are left out of both paths`);
    // A packet a source missed has a shorter path: said, so that a difference it makes is read as such.
    const lost = t.summary?.lost;
    if (lost && (lost.callbacks || lost.nftrace)) notes.push(`${sideName(t)} lost ${lost.callbacks} callback record(s) and ${lost.nftrace ?? 'an unknown number of'} nf_tables trace(s): a path that lacks steps may be one of those`);
  }
  if (a.summary && b.summary && a.summary.kernel !== b.summary.kernel) {
    notes.push(`the kernels differ (${a.summary.kernel}, ${b.summary.kernel}): a callback can have another name on the other (ipv4_confirm became nf_confirm in 6.3)`);
  }
  for (const t of [a, b]) if (!t.summary) notes.push(`${sideName(t)} has no summary line: the run was cut short, its packets are all there is`);
  // In paths mode a run prints a path's first packet (and every drop), not every packet: how many
  // packets took a path is not what it printed, so which path is the usual one is not compared.
  const usualKnown = !a.pathsKept && !b.pathsKept;
  for (const t of [a, b]) if (t.pathsKept) notes.push(`${sideName(t)} kept paths in the kernel (follow's default): it printed each path's first packet and every drop, not every packet, so which path most packets took is not compared (run both with --every-packet for that)`);
  // Past the caps a run's kinds and paths are counted, not kept: a kind or path "only" in the other run may be one of them.
  for (const [t, o] of [[a, b], [b, a]] as const) {
    if (t.notKept.kinds || t.notKept.packets) notes.push(`${sideName(t)} kept ${MAX_KINDS} kinds of packet and ${MAX_PATHS_PER_KIND} paths a kind: ${t.notKept.kinds} more kind(s) and ${t.notKept.packets} packet(s) were counted only, so what seems to be only in ${sideName(o)} may be among them`);
  }
  const kinds: FollowDiffKind[] = [];
  for (const kind of new Set([...a.kinds.keys(), ...b.kinds.keys()])) {
    const pa = projected(a.kinds.get(kind), use);
    const pb = projected(b.kinds.get(kind), use);
    let verdict: FollowDiffKind['verdict'];
    let diff: FollowDiffKind['firstDifference'] = null;
    if (!pb.length) verdict = 'only in a';
    else if (!pa.length) verdict = 'only in b';
    else {
      const onlyB = pb.find((x) => !pa.some((y) => same(x.steps, y.steps)));
      const onlyA = pa.find((x) => !pb.some((y) => same(x.steps, y.steps)));
      // A path one side has and the other has not, or the usual path changed (the same paths, but
      // most packets now take another one).
      const usualChanged = usualKnown && !same(pa[0]!.steps, pb[0]!.steps);
      verdict = onlyA || onlyB || usualChanged ? 'differs' : 'same';
      if (onlyB) diff = firstDifference(closest(onlyB.steps, pa), onlyB.steps);
      else if (onlyA) diff = firstDifference(onlyA.steps, closest(onlyA.steps, pb));
      else if (usualChanged) diff = firstDifference(pa[0]!.steps, pb[0]!.steps);
    }
    kinds.push({ kind, a: pa, b: pb, verdict, firstDifference: diff });
  }
  return {
    schemaVersion: FOLLOW_DIFF_SCHEMA_VERSION,
    a: a.side(aSource),
    b: b.side(bSource),
    compared: use,
    kinds,
    notKept: { kinds: a.notKept.kinds + b.notKept.kinds, packets: a.notKept.packets + b.notKept.packets },
    notes,
  };
}
