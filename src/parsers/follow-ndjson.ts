/**
 * One line of a saved `nfscope follow --json` run (NDJSON: packet objects, then the summary),
 * checked enough that a diff never takes something else for a packet. Pure.
 */
import { ParseError } from '../lib/errors.js';
import { FOLLOW_SCHEMA_VERSION, type FollowPacket, type FollowSummary } from '../model/follow.js';
import { isObj, parseJsonBounded } from './json-guard.js';

const strOrNull = (v: unknown) => v === null || typeof v === 'string';
const numOrNull = (v: unknown) => v === null || typeof v === 'number';
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const ends = (v: unknown) => isObj(v) && typeof v.src === 'string' && typeof v.dst === 'string' && typeof v.sport === 'number' && typeof v.dport === 'number';

/** A packet, the summary, or null for a blank line. */
export function parseFollowLine(line: string, what: string, lineNo: number): FollowPacket | FollowSummary | null {
  if (line.trim() === '') return null;
  const v = parseJsonBounded(line, what, lineNo);
  const bad = (why: string) => new ParseError(what, lineNo, line.slice(0, 80), why);
  if (!isObj(v) || (v.type !== 'packet' && v.type !== 'summary')) throw bad('not a follow record: no type "packet" or "summary" (`nfscope follow --json` writes them)');
  if (v.schemaVersion !== FOLLOW_SCHEMA_VERSION) throw bad(`schemaVersion ${String(v.schemaVersion)}, this nfscope reads ${FOLLOW_SCHEMA_VERSION}`);
  if (v.type === 'summary') {
    if (typeof v.kernel !== 'string' || typeof v.target !== 'string' || !Array.isArray(v.sources) || !v.sources.every((x) => isObj(x) && typeof x.name === 'string' && typeof x.available === 'boolean')) {
      throw bad('a summary without kernel, target or sources (each a name and whether it was available)');
    }
    if (!isObj(v.lost)) throw bad('a summary without its lost counts');
    return v as unknown as FollowSummary;
  }
  // Every field a diff reads, with its type: a file that is not follow's is a ParseError, never a
  // TypeError halfway through a comparison.
  const t = v.tuple;
  if (typeof v.id !== 'number' || !isObj(t) || !isObj(v.fate) || typeof v.fate.kind !== 'string') throw bad('a packet without id, tuple or fate');
  if (!strOrNull(t.family) || !strOrNull(t.proto) || !numOrNull(t.sport) || !numOrNull(t.dport) || !(t.tcpFlags === null || strings(t.tcpFlags))) throw bad('a tuple without family, proto, ports or TCP flags');
  if (v.hooks !== null && !(Array.isArray(v.hooks) && v.hooks.every((h) => isObj(h) && typeof h.hook === 'string' && Array.isArray(h.callbacks)
    && h.callbacks.every((c) => isObj(c) && typeof c.callback === 'string' && typeof c.verdict === 'string' && numOrNull(c.priority) && typeof c.conntrack === 'boolean')))) {
    throw bad('hooks: neither null nor a list of hook passes with callbacks');
  }
  if (v.nft !== null && !(isObj(v.nft) && Array.isArray(v.nft.steps) && v.nft.steps.every((s) => isObj(s) && ['family', 'table', 'chain', 'verdict'].every((k) => typeof s[k] === 'string')
    && strOrNull(s.hook) && strOrNull(s.rule) && (s.kind === 'rule' || s.kind === 'policy') && numOrNull(s.handle)))) {
    throw bad('nft: neither null nor a trace with steps');
  }
  if (v.conntrack !== null && !(isObj(v.conntrack) && typeof v.conntrack.after === 'string' && typeof v.conntrack.ctinfo === 'string' && strings(v.conntrack.status))) throw bad('conntrack: neither null nor a view with after, ctinfo and status');
  if (v.drop !== null && !(isObj(v.drop) && strOrNull(v.drop.reason) && typeof v.drop.location === 'string' && strOrNull(v.drop.hook))) throw bad('drop: neither null nor a drop with reason, location and hook');
  if (!Array.isArray(v.nat) || !v.nat.every((n) => isObj(n) && typeof n.hook === 'string' && typeof n.callback === 'string' && ends(n.before) && ends(n.after))) throw bad('a packet without its nat list of rewrites');
  return v as unknown as FollowPacket;
}
