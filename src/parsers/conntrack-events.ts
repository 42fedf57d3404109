/**
 * `conntrack -E -o timestamp,id` lines (conntrack-tools 1.4.7). Pure.
 *   [1796055806.429944]	    [NEW] tcp      6 120 SYN_SENT src=… dst=… sport=… dport=… [UNREPLIED] src=… … id=3555487263
 * The event body has the shape of a `conntrack -L` line (parsers/conntrack.ts).
 */
import { ParseError } from '../lib/errors.js';
import { parseConntrackList } from './conntrack.js';
import type { ConntrackEvent } from '../model/follow.js';

/** One event as conntrack printed it: the model's event with conntrack's own unix time (null without -o timestamp). */
export type RawCtEvent = Omit<ConntrackEvent, 't'> & { time: number | null };

const LINE = /^(?:\[(\d+\.\d+)\]\s+)?\[([A-Z]+)\]\s+(.*)$/;

/** firstLine: the number of text's first line in the whole output (a stream parses it a line at a time). */
export function parseConntrackEvents(text: string, firstLine = 1): RawCtEvent[] {
  const out: RawCtEvent[] = [];
  text.split('\n').forEach((raw, j) => {
    const i = j + firstLine - 1;
    const line = raw.trim();
    if (line === '' || /flow events have been shown/.test(line)) return;
    const m = LINE.exec(line);
    if (!m) throw new ParseError('conntrack -E', i + 1, raw, 'expected "[TIME] [EVENT] proto ..."');
    let e;
    try {
      e = parseConntrackList(m[3]!)[0];
    } catch (err) {
      throw new ParseError('conntrack -E', i + 1, raw, (err as Error).message);
    }
    if (!e) throw new ParseError('conntrack -E', i + 1, raw, 'empty event');
    out.push({ time: m[1] ? Number(m[1]) : null, event: m[2]!, proto: e.proto, state: e.state, original: e.original, reply: e.reply, flags: e.flags, id: e.extra.id ?? null });
  });
  return out;
}
