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
import { parseFollowCbLost } from '../parsers/follow-cb.js';
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
  private readonly bad = new Map<FollowSource, Counted>();
  private n = { kfree_skb: 0, callbacks: 0, nft: 0, conntrack: 0 };

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
    if (ev?.type !== 'printf' || typeof ev.data !== 'string') return;
    // bpf/follow_drop.bt's END: its @more_drops was printed before it (an empty map prints nothing).
    if (src === 'kfree_skb' && ev.data === 'END\n') { this.moreDropsSeen = true; return; }
    if (src === 'kfree_skb' && ev.data.startsWith('K ')) for (const d of parseFollowDrops(ev.data.split('\n'))) this.sink?.drop(t, d);
    if (src === 'callbacks' && /^[HCR] /.test(ev.data)) {
      const x = parseFollowCbLost(ev.data.split('\n'));
      // Callbacks past a hook record's slots: counted as lost, as bpftrace's own losses are.
      this.lost.callbacks += x.lost;
      for (const r of x.records) this.sink?.callback(t, r);
    }
  }
}

/** What a captured run kept beside its events (context.json). */
export interface FollowContext {
  traceChain: { family: string; table: string; chain: string } | null;
  chainHooks: [string, string][];
  reasons: [number, string][];
  listing: import('../model/hooks.js').HookList[] | null;
}

/** A captured run (events.jsonl lines, in arrival order) through the correlator, as the run fed it. */
export function replayFollow(raw: { t: number; src: FollowSource; line: string }[], corr: Correlator): ReturnType<Correlator['take']> {
  const ev = new FollowEvents();
  ev.attach(corr);
  for (const r of raw) ev.add(r.src, r.t, r.line);
  return corr.take(Infinity, 0, true);
}
