/**
 * `nft -j list table FAMILY NAME` (or `list ruleset`) → every rule that has a counter, with its
 * table, chain, handle and comment: the scenarios name their rules by comment and read each
 * count from here. nft's JSON, schema 1 (nftables 0.9.x to 1.1): {"nftables": [{"metainfo"},
 * {"table"}, {"chain"}, {"rule": {family, table, chain, handle, comment?, expr: [...]}}]}.
 * A rule object without the fields nft always writes is an error, not a rule left out. Pure.
 */
import { ParseError } from '../lib/errors.js';
import { parseJsonBounded } from './json-guard.js';

export interface NftRuleCounter {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment: string | null;
  packets: number;
  bytes: number;
}

export function parseNftRuleCounters(text: string): NftRuleCounter[] {
  const doc = parseJsonBounded(text, 'nft -j', 1) as { nftables?: unknown };
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.nftables)) throw new ParseError('nft -j', 1, text.slice(0, 80), 'no "nftables" array');
  const out: NftRuleCounter[] = [];
  for (const o of doc.nftables as Record<string, unknown>[]) {
    const r = o?.rule as { family?: unknown; table?: unknown; chain?: unknown; handle?: unknown; comment?: unknown; expr?: unknown } | undefined;
    if (r === undefined) continue;
    if (typeof r.family !== 'string' || typeof r.table !== 'string' || typeof r.chain !== 'string' || typeof r.handle !== 'number' || !Array.isArray(r.expr)) {
      throw new ParseError('nft -j', 1, JSON.stringify(r).slice(0, 120), 'a rule without family, table, chain, handle or expr');
    }
    const c = (r.expr as Record<string, unknown>[]).find((x) => x && typeof x === 'object' && 'counter' in x)?.counter as { packets?: unknown; bytes?: unknown } | undefined;
    if (c === undefined) continue;
    // A named counter ({"counter": "name"}) carries no numbers in the rule: not one of ours.
    if (typeof c !== 'object' || typeof c.packets !== 'number' || typeof c.bytes !== 'number') continue;
    out.push({
      family: r.family, table: r.table, chain: r.chain, handle: r.handle,
      comment: typeof r.comment === 'string' ? r.comment : null, packets: c.packets, bytes: c.bytes,
    });
  }
  return out;
}
