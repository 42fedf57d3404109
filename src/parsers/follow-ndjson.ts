/**
 * One line of a saved `nfscope follow --json` run (NDJSON: packet objects, then the summary),
 * checked enough that a diff never takes something else for a packet. Pure.
 */
import { ParseError } from '../lib/errors.js';
import { FOLLOW_SCHEMA_VERSION, type FollowPacket, type FollowSummary } from '../model/follow.js';
import { parseJsonBounded } from './json-guard.js';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A packet, the summary, or null for a blank line. */
export function parseFollowLine(line: string, what: string, lineNo: number): FollowPacket | FollowSummary | null {
  if (line.trim() === '') return null;
  const v = parseJsonBounded(line, what, lineNo);
  const bad = (why: string) => new ParseError(what, lineNo, line.slice(0, 80), why);
  if (!isObj(v) || (v.type !== 'packet' && v.type !== 'summary')) throw bad('not a follow record: no type "packet" or "summary" (`nfscope follow --json` writes them)');
  if (v.schemaVersion !== FOLLOW_SCHEMA_VERSION) throw bad(`schemaVersion ${String(v.schemaVersion)}, this nfscope reads ${FOLLOW_SCHEMA_VERSION}`);
  if (v.type === 'summary') {
    if (typeof v.kernel !== 'string' || typeof v.target !== 'string' || !Array.isArray(v.sources)) throw bad('a summary without kernel, target or sources');
    return v as unknown as FollowSummary;
  }
  if (typeof v.id !== 'number' || !isObj(v.tuple) || !isObj(v.fate) || typeof v.fate.kind !== 'string') throw bad('a packet without id, tuple or fate');
  if (v.hooks !== null && !(Array.isArray(v.hooks) && v.hooks.every((h) => isObj(h) && typeof h.hook === 'string' && Array.isArray(h.callbacks)
    && h.callbacks.every((c) => isObj(c) && typeof c.callback === 'string' && typeof c.verdict === 'string')))) throw bad('hooks: neither null nor a list of hook passes with callbacks');
  if (v.nft !== null && !(isObj(v.nft) && Array.isArray(v.nft.steps) && v.nft.steps.every((s) => isObj(s) && typeof s.chain === 'string' && typeof s.verdict === 'string'))) {
    throw bad('nft: neither null nor a trace with steps');
  }
  if (!Array.isArray(v.nat)) throw bad('a packet without its nat list');
  return v as unknown as FollowPacket;
}
