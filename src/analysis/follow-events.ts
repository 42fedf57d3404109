/**
 * The lines follow's sources print, turned into the events correlate() reads:
 * one collector for the live run (src/experiments/follow.ts) and for a replay
 * of a captured run (events.jsonl: every line with the time follow got it).
 * Pure: lines in, events out.
 */
import { parseBpftraceJsonLine } from '../parsers/bpftrace-json.js';
import { parseFollowDrops } from '../parsers/follow-drop.js';
import { parseFollowCbLost } from '../parsers/follow-cb.js';
import { parseNftTraceLine } from '../parsers/nft-trace.js';
import type { Correlator } from './follow.js';

export type FollowSource = 'kfree_skb' | 'nft' | 'conntrack' | 'callbacks';

/**
 * Events go to the correlator once one is attached (the run is ready); before that, what the
 * sources print is follow's own set-up and is not kept. Conntrack's lines are kept whole: they are
 * read once, at the end, for the summary.
 */
export class FollowEvents {
  private sink: Correlator | null = null;
  readonly conntrack: string[] = [];
  /** Events bpftrace reported lost, per tracer. */
  lost = { kfreeSkb: 0, callbacks: 0 };
  private n = { kfree_skb: 0, callbacks: 0, nft: 0 };

  /** From now on events go to the correlator, and count. */
  attach(sink: Correlator): void {
    this.sink = sink;
    this.conntrack.length = 0;
    this.lost = { kfreeSkb: 0, callbacks: 0 };
  }

  add(src: FollowSource, t: number, line: string): void {
    if (src === 'conntrack') { this.conntrack.push(line); return; }
    if (src === 'nft') {
      let l;
      try {
        l = parseNftTraceLine(line, ++this.n.nft);
      } catch {
        return; // a trace line of a shape nfscope does not know: skipped, never guessed at
      }
      if (l) this.sink?.nft(t, l);
      return;
    }
    const ev = parseBpftraceJsonLine(line, ++this.n[src]);
    if (ev?.type === 'lost_events') {
      const k = Number((ev.data as { events?: number }).events ?? 0);
      if (src === 'kfree_skb') this.lost.kfreeSkb += k; else this.lost.callbacks += k;
      return;
    }
    if (ev?.type !== 'printf' || typeof ev.data !== 'string') return;
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
