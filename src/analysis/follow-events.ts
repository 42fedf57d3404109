/**
 * The lines follow's sources print, turned into the events correlate() reads:
 * one collector for the live run (src/experiments/follow.ts) and for a replay
 * of a captured run (events.jsonl: every line with the time follow got it).
 * Pure: lines in, events out.
 */
import { parseBpftraceJsonLine } from '../parsers/bpftrace-json.js';
import { parseFollowDrops, type RawDrop } from '../parsers/follow-drop.js';
import { parseFollowCb, type CbRecord } from '../parsers/follow-cb.js';
import { parseNftTraceLine, type NftTraceLine } from '../parsers/nft-trace.js';
import type { Correlator, Timed } from './follow.js';

export type FollowSource = 'kfree_skb' | 'nft' | 'conntrack' | 'callbacks';

/**
 * With a correlator, events go straight to it and are not kept (a live run of any length);
 * without one they are kept in the arrays (a replay, a test).
 */
export class FollowEvents {
  private sink: Correlator | null = null;

  /** From now on events go to the correlator. */
  attach(sink: Correlator): void {
    this.sink = sink;
  }

  readonly nft: Timed<NftTraceLine>[] = [];
  readonly drops: Timed<RawDrop>[] = [];
  readonly callbacks: Timed<CbRecord>[] = [];
  readonly conntrack: string[] = [];
  /** Events bpftrace reported lost, per tracer. */
  lost = { kfreeSkb: 0, callbacks: 0 };
  /** nft lines that are no trace record (ruleset events), counted. */
  otherNft = 0;
  private n = { kfree_skb: 0, callbacks: 0, nft: 0 };

  add(src: FollowSource, t: number, line: string): void {
    if (src === 'conntrack') { this.conntrack.push(line); return; }
    if (src === 'nft') {
      const l = parseNftTraceLine(line, ++this.n.nft);
      if (!l) this.otherNft++;
      else if (this.sink) this.sink.nft(t, l);
      else this.nft.push({ t, ev: l });
      return;
    }
    const ev = parseBpftraceJsonLine(line, ++this.n[src]);
    if (ev?.type === 'lost_events') {
      const k = Number((ev.data as { events?: number }).events ?? 0);
      if (src === 'kfree_skb') this.lost.kfreeSkb += k; else this.lost.callbacks += k;
      return;
    }
    if (ev?.type !== 'printf' || typeof ev.data !== 'string') return;
    if (src === 'kfree_skb' && ev.data.startsWith('K ')) {
      for (const d of parseFollowDrops(ev.data.split('\n'))) if (this.sink) this.sink.drop(t, d); else this.drops.push({ t, ev: d });
    }
    if (src === 'callbacks' && /^[CR] /.test(ev.data)) {
      for (const r of parseFollowCb(ev.data.split('\n'))) if (this.sink) this.sink.callback(t, r); else this.callbacks.push({ t, ev: r });
    }
  }

  /** Forgets what came before follow was ready (its own table's ruleset events). */
  clear(): void {
    this.nft.length = 0; this.drops.length = 0; this.callbacks.length = 0; this.conntrack.length = 0;
    this.lost = { kfreeSkb: 0, callbacks: 0 };
  }
}

/** What a captured run kept beside its events (context.json). */
export interface FollowContext {
  traceChain: { family: string; table: string; chain: string } | null;
  chainHooks: [string, string][];
  reasons: [number, string][];
  listing: import('../model/hooks.js').HookList[] | null;
}

/** A captured run (events.jsonl lines, in arrival order) through the correlator, as the run did it. */
export function replayFollow(raw: { t: number; src: FollowSource; line: string }[], ctx: FollowContext, corr: Correlator): ReturnType<Correlator['take']> {
  const ev = new FollowEvents();
  ev.attach(corr);
  for (const r of raw) {
    try {
      ev.add(r.src, r.t, r.line);
    } catch { /* as the run: an nft line of no known trace shape is skipped */ }
  }
  return corr.take(Infinity, 0, true);
}
