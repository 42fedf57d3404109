import { ParseError } from '../lib/errors.js';
import { parseJsonBounded } from './json-guard.js';

export interface RuleCounter {
  rule: string;
  packets: number;
  bytes: number;
}

/**
 * `iptables-save -c` lines "[pkts:bytes] -A CHAIN …" → counters of one chain's
 * rules. Every line must be one iptables-save (1.8) writes: a damaged rule
 * line is an error, not a rule silently missing with its counter.
 */
export function parseIptablesSaveCounters(text: string, chain: string): RuleCounter[] {
  const out: RuleCounter[] = [];
  text.split('\n').forEach((line, i) => {
    const m = line.match(/^\[(\d+):(\d+)\] (-A (\S+) .*)$/);
    if (m) {
      if (m[4] === chain) out.push({ rule: m[3]!, packets: Number(m[1]), bytes: Number(m[2]) });
      return;
    }
    if (line === '' || line === 'COMMIT' || line.startsWith('# ') || /^\*[a-z]+$/.test(line) || /^:\S+ (\S+) \[\d+:\d+\]$/.test(line)) return;
    throw new ParseError('iptables-save -c', i + 1, line, 'not a line iptables-save writes');
  });
  return out;
}

/**
 * `nft -j list table …` → the counters of the rules of one chain, in order.
 * nft's JSON (schema 1): {"nftables": [{"metainfo"}, {"table"}, {"chain"}, {"rule": {chain, expr: [...]}}]}.
 */
export function parseNftJsonCounters(text: string, chain: string): RuleCounter[] {
  let doc: { nftables?: Record<string, unknown>[] };
  doc = parseJsonBounded(text, 'nft -j', 1) as typeof doc;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.nftables)) throw new ParseError('nft -j', 1, text.slice(0, 80), 'no "nftables" array');
  const out: RuleCounter[] = [];
  for (const o of doc.nftables) {
    const r = o.rule as { chain?: string; expr?: Record<string, unknown>[] } | undefined;
    if (!r || r.chain !== chain) continue;
    const c = r.expr?.find((x) => 'counter' in x)?.counter as { packets?: number; bytes?: number } | undefined;
    if (!c) continue;
    const verdict = r.expr?.find((x) => 'drop' in x || 'accept' in x);
    out.push({ rule: `${chain}: ${verdict ? Object.keys(verdict)[0] : 'rule'}`, packets: c.packets ?? 0, bytes: c.bytes ?? 0 });
  }
  return out;
}
