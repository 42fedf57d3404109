/**
 * The lines follow's sources print, turned into the events correlate() reads:
 * one collector for the live run (src/experiments/follow.ts) and for a replay
 * of a captured run (events.jsonl: every line with the time follow got it).
 * Pure: lines in, events out.
 */
import { mapData, parseBpftraceJsonLine } from '../parsers/bpftrace-json.js';
import { parseConntrackEvents, type RawCtEvent } from '../parsers/conntrack-events.js';
import { Counted } from '../model/bounded.js';
import { parseFollowDrops } from '../parsers/follow-drop.js';
import { parseFollowCbLost, parseHookLine, parsePathMark, type CbRecord } from '../parsers/follow-cb.js';
import { parseNftTraceLine } from '../parsers/nft-trace.js';
import type { Correlator } from './follow.js';

export type FollowSource = 'kfree_skb' | 'nft' | 'conntrack' | 'callbacks';

/** A line no parser took, per source: counted, the first few kept for the report. */
export interface Malformed { source: FollowSource; count: number; examples: string[] }

/**
 * Events go to the correlator once one is attached (the run is ready); before that, what the
 * sources print is follow's own set-up and is not kept. Nothing is kept per line: conntrack's
 * events go to their own sink as they come (issue 26: an hour of a flood kept every line), and a
 * line of a shape nfscope does not know is counted with a few examples, never thrown from inside
 * a stream's handler (where it tore the whole run down) and never guessed at.
 */
export class FollowEvents {
  private sink: Correlator | null = null;
  private ctSink: ((e: RawCtEvent) => void) | null = null;
  /** Events bpftrace reported lost, per tracer. */
  lost = { kfreeSkb: 0, callbacks: 0 };
  /** The drop tracer's @more_drops at its exit: drops past the ones it printed in detail. */
  moreDrops = 0;
  /** Whether the drop tracer's END record arrived (after its @more_drops): without it moreDrops is unknown, not 0. */
  moreDropsSeen = false;
  /** Paths mode: the kernel's count of each signature's passes not printed (@pn), by signature in hex. */
  readonly pathCounts = new Map<string, number>();
  /** Whether the callback tracer's END record arrived (after its @pn): without it pathCounts is unknown. */
  pathsEndSeen = false;
  /** Paths mode: an H record waits for the S record that marks it (two printf events), by skb and time. */
  private readonly held = new Map<string, { t: number; skb: string; records: CbRecord[] }>();
  /** Paths mode: H records let go without their S record (lost, or late): their passes' paths are not known. */
  unmarked = 0;
  /** Paths mode: H records that named no probed callback that began (nothing to show of the hook). */
  unshown = 0;
  private readonly bad = new Map<FollowSource, Counted>();
  private n = { kfree_skb: 0, callbacks: 0, nft: 0, conntrack: 0 };

  /**
   * paths: the callback tracer keeps paths in the kernel, and each H record is followed by its S
   * record. probed: the callbacks it has a probe on (a hook record's count is of those).
   */
  constructor(private readonly paths = false, public probed: ReadonlySet<string> | null = null) {}

  /** From now on events go to the correlator (and conntrack's to ctSink), and count. */
  attach(sink: Correlator, ctSink: (e: RawCtEvent) => void = () => {}): void {
    this.sink = sink;
    this.ctSink = ctSink;
    this.lost = { kfreeSkb: 0, callbacks: 0 };
  }

  /** Lines no parser took, per source (the set-up's included: a tool printing garbage is news then too). */
  get malformed(): Malformed[] {
    return [...this.bad].map(([source, c]) => ({ source, ...c.toJSON() }));
  }

  private malformedLine(src: FollowSource, line: string, e: unknown): void {
    let c = this.bad.get(src);
    if (!c) this.bad.set(src, (c = new Counted()));
    c.add(`${line.length > 200 ? `${line.slice(0, 200)}… (${line.length} chars)` : line} (${(e as Error).message.split('\n')[0]!.slice(0, 120)})`);
  }

  /** Lines the transport did not hand on, too long to be a tool's output (LineSplitter): counted as malformed. */
  overlong(src: FollowSource, n: number): void {
    for (let i = 0; i < n; i++) this.malformedLine(src, '(a line longer than the transport\'s 16 MiB cap, not read)', new Error('overlong line'));
  }

  add(src: FollowSource, t: number, line: string): void {
    try {
      this.take(src, t, line);
    } catch (e) {
      this.malformedLine(src, line, e);
    }
  }

  private take(src: FollowSource, t: number, line: string): void {
    if (src === 'conntrack') {
      if (!this.ctSink) return;
      for (const e of parseConntrackEvents(line, ++this.n.conntrack)) this.ctSink(e);
      return;
    }
    if (src === 'nft') {
      const l = parseNftTraceLine(line, ++this.n.nft);
      if (l) this.sink?.nft(t, l);
      return;
    }
    const ev = parseBpftraceJsonLine(line, ++this.n[src]);
    if (ev?.type === 'lost_events') {
      const k = Number((ev.data as { events?: number }).events ?? 0);
      if (src === 'kfree_skb') this.lost.kfreeSkb += k; else this.lost.callbacks += k;
      return;
    }
    if (ev?.type === 'map' && src === 'kfree_skb') {
      this.moreDrops += Object.values(mapData([ev], '@more_drops')).reduce((a, b) => a + b, 0);
      return;
    }
    if (ev?.type === 'map' && src === 'callbacks') {
      // bpftrace prints a u64 key in decimal, the S records in hex; a key past 2^63 may come signed.
      for (const [k, n] of Object.entries(mapData([ev], '@pn'))) {
        const sig = BigInt.asUintN(64, BigInt(k)).toString(16);
        this.pathCounts.set(sig, (this.pathCounts.get(sig) ?? 0) + n);
      }
      return;
    }
    if (ev?.type !== 'printf' || typeof ev.data !== 'string') return;
    // bpf/follow_drop.bt's END: its @more_drops was printed before it (an empty map prints nothing).
    if (src === 'kfree_skb' && ev.data === 'END\n') { this.moreDropsSeen = true; return; }
    if (src === 'kfree_skb' && ev.data.startsWith('K ')) for (const d of parseFollowDrops(ev.data.split('\n'))) this.sink?.drop(t, d);
    if (src === 'callbacks' && ev.data === 'END\n') { this.flushHeld(); this.pathsEndSeen = true; return; }
    if (src === 'callbacks' && this.paths && ev.data.startsWith('S ')) {
      const m = parsePathMark(ev.data);
      if (!m) throw new Error('not an S record (S skb signature parent parent-nsecs nsecs)');
      const key = `${m.skb} ${m.nsecs}`;
      const h = this.held.get(key);
      if (!h) throw new Error('an S record with no H record of its skb and time before it');
      this.held.delete(key);
      // A hook record that named no probed callback that began: nothing of it to show, nor to chain.
      if (!h.records.length) { this.unshown++; return; }
      this.sink?.pathMark(h.t, m);
      for (const r of h.records) this.sink?.callback(h.t, r);
      return;
    }
    if (src === 'callbacks' && this.paths && ev.data.startsWith('H ')) {
      const x = parseHookLine(ev.data, this.probed);
      if (!x) throw new Error('not an H record of follow_cb.bt');
      this.lost.callbacks += x.lost;
      this.held.set(`${x.skb} ${x.nsecs}`, { t, skb: x.skb, records: x.records });
      return;
    }
    if (src === 'callbacks' && /^[HCR] /.test(ev.data)) {
      const x = parseFollowCbLost(ev.data.split('\n'), this.probed);
      // Callbacks past a hook record's slots: counted as lost, as bpftrace's own losses are.
      this.lost.callbacks += x.lost;
      for (const r of x.records) this.sink?.callback(t, r);
    }
  }

  /** An H record held for its S record, let go without one. */
  private release(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    this.unmarked++;
    this.sink?.unmarked(h.skb);
    for (const r of h.records) this.sink?.callback(h.t, r);
  }

  /**
   * H records whose S record has not come by `before` (follow's clock): let go unmarked. The two are
   * printed one after the other by one probe, so the S record is lost, not late; the wait is bounded.
   */
  releaseStale(before: number): void {
    for (const [key, h] of [...this.held]) if (h.t < before) this.release(key);
  }

  /** Every H record still waiting for its S record (the tracer ended): let go unmarked. */
  flushHeld(): void {
    for (const key of [...this.held.keys()]) this.release(key);
  }
}

/** What a captured run kept beside its events (context.json). */
export interface FollowContext {
  traceChain: { family: string; table: string; chain: string } | null;
  chainHooks: [string, string][];
  reasons: [number, string][];
  listing: import('../model/hooks.js').HookList[] | null;
  /** The run kept paths in the kernel (absent from captures made before it: they did not). */
  paths?: boolean;
  /** The callbacks the tracer probed (absent from captures made before it: those of the listing). */
  probed?: string[];
}

/** The callbacks a captured run probed: as it recorded them, else its listing's ipv4 and ipv6 ones (what follow probed then). */
export function probedOf(ctx: FollowContext): Set<string> | null {
  if (ctx.probed) return new Set(ctx.probed);
  if (!ctx.listing) return null;
  return new Set(ctx.listing.filter((l) => l.family === 'ipv4' || l.family === 'ipv6').flatMap((l) => l.entries.map((e) => e.callback)));
}

/** A captured run (events.jsonl lines, in arrival order) through the correlator, as the run fed it. */
export function replayFollow(raw: { t: number; src: FollowSource; line: string }[], corr: Correlator, probed: ReadonlySet<string> | null = null): ReturnType<Correlator['take']> {
  // A run in paths mode printed S records.
  const ev = new FollowEvents(raw.some((r) => r.src === 'callbacks' && r.line.includes('"S ')), probed);
  ev.attach(corr);
  for (const r of raw) ev.add(r.src, r.t, r.line);
  ev.flushHeld();
  return corr.take(Infinity, 0, true);
}
