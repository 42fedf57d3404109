import { ParseError } from '../lib/errors.js';
import type { InvalidLogLine } from '../model/scenario.js';

/** One line of payload/net/nflog.py (a packet nf_log handed to nfnetlink_log), every field of its type; anything else is an error. */
export function parseNflogLine(line: string, lineNo = 1): InvalidLogLine {
  const bad = (why: string) => new ParseError('nflog.py', lineNo, line, why);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw bad('not a JSON line');
  }
  if (o === null || typeof o !== 'object') throw bad('not a JSON object');
  const num = (v: unknown) => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
  if (!(o.prefix === null || typeof o.prefix === 'string') || !num(o.ip_len) || !num(o.proto) || !num(o.sport) || !num(o.dport)) throw bad('lacks a field of its line');
  return { prefix: o.prefix as string | null, ip_len: o.ip_len as number | null, proto: o.proto as number | null, sport: o.sport as number | null, dport: o.dport as number | null };
}
