import { ParseError } from '../lib/errors.js';
import { parseJsonBounded } from './json-guard.js';

/**
 * `bpftrace -f json` prints one {"type","data"} object a line (bpftrace 0.17:
 * attached_probes, printf, map, hist, stats, lost_events, time, join).
 * Other lines (the "couldn't set RLIMIT_MEMLOCK" notice, WARNINGs) go to
 * stderr; on stdout, a line that is not JSON is an error.
 */
export type BpftraceEvent =
  | { type: 'attached_probes'; data: { probes: number } }
  | { type: 'printf'; data: string }
  | { type: 'lost_events'; data: { events: number } }
  | { type: 'map' | 'hist' | 'lhist' | 'stats'; data: Record<string, unknown> }
  | { type: string; data: unknown };

export function parseBpftraceJsonLine(line: string, lineNo: number): BpftraceEvent | null {
  const t = line.trim();
  if (t === '') return null;
  const v = parseJsonBounded(t, 'bpftrace json', lineNo);
  if (typeof v !== 'object' || v === null || typeof (v as { type?: unknown }).type !== 'string') {
    throw new ParseError('bpftrace json', lineNo, t, 'no "type" field');
  }
  // The data's shape per type, checked once here so that no consumer meets a null (found by fuzzing).
  const { type, data } = v as { type: string; data: unknown };
  const isObject = typeof data === 'object' && data !== null && !Array.isArray(data);
  if (type === 'printf' && typeof data !== 'string') throw new ParseError('bpftrace json', lineNo, t, 'printf data is not a string');
  if (['map', 'hist', 'lhist', 'stats', 'lost_events', 'attached_probes'].includes(type) && !isObject) {
    throw new ParseError('bpftrace json', lineNo, t, `${type} data is not an object`);
  }
  if (type === 'map') {
    // A keyed map is an object; a scalar one (@x = 5) a number (bpftrace 0.17).
    for (const m of Object.values(data as object)) {
      if (typeof m !== 'number' && (typeof m !== 'object' || m === null)) throw new ParseError('bpftrace json', lineNo, t, 'a map is neither an object nor a number');
    }
  }
  return v as BpftraceEvent;
}

export function parseBpftraceJson(text: string): BpftraceEvent[] {
  const out: BpftraceEvent[] = [];
  text.split('\n').forEach((l, i) => {
    const e = parseBpftraceJsonLine(l, i + 1);
    if (e) out.push(e);
  });
  return out;
}

/**
 * The text of all printf events, split into lines. A printf may carry several
 * lines or, under load, a line may span events: join, then split.
 */
export function printfLines(events: BpftraceEvent[]): string[] {
  const text = events
    .filter((e): e is { type: 'printf'; data: string } => e.type === 'printf' && typeof e.data === 'string')
    .map((e) => e.data)
    .join('');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

export function lostEvents(events: BpftraceEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type === 'lost_events') n += Number((e.data as { events?: number }).events ?? 0);
  }
  return n;
}

/** The entries of a map printed at exit ({"type": "map", "data": {"@name": {key: value}}}); {} when absent. */
export function mapData(events: BpftraceEvent[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    if (e.type !== 'map') continue;
    const m = (e.data as Record<string, unknown>)[name];
    if (m && typeof m === 'object') for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + Number(v);
    else if (typeof m === 'number') out[''] = (out[''] ?? 0) + m;
  }
  return out;
}

/**
 * Why a bpftrace run failed, from its stderr: its first ERROR line, but for the RLIMIT_MEMLOCK
 * notice bpftrace 0.17 prints on every run where the limit cannot be raised, attached or not.
 */
export function bpftraceError(stderr: string): string | null {
  return stderr.split('\n').find((l) => /ERROR/.test(l) && !/RLIMIT_MEMLOCK/.test(l))?.trim() ?? null;
}
