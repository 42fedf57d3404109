/**
 * `nft -j list ruleset` (nftables 0.9.3+, libnftables' JSON) → each chain and the rule
 * features the hook lint reads: conntrack reads, notrack, NAT, drops, jumps. Pure.
 * The caller checks nft's exit status first: empty text here is an empty ruleset's
 * output only if nft said so.
 */
import { ParseError } from '../lib/errors.js';
import { isObj, parseJsonBounded } from './json-guard.js';
import type { Ruleset, RulesetChain, RulesetRule } from '../model/hooks-lint.js';

const WHAT = 'nft -j list ruleset';

type Obj = Record<string, unknown>;

/** Every object in a JSON value, depth first, with the key it sits under. */
function* walk(v: unknown, key = ''): Generator<[string, Obj]> {
  if (Array.isArray(v)) for (const x of v) yield* walk(x, key);
  else if (isObj(v)) {
    yield [key, v];
    for (const [k, x] of Object.entries(v)) yield* walk(x, k);
  }
}

/** A rule's statements: what it reads and sets of conntrack, and what it does. */
export function ruleFeatures(expr: unknown[]): Omit<RulesetRule, 'family' | 'table' | 'chain' | 'handle'> {
  const ctReads = new Set<string>();
  const ctWrites = new Set<string>();
  const jumps: string[] = [];
  let notrack = false;
  let nat = false;
  let drop = false;
  let ordered = false;
  for (const stmt of expr) {
    if (!isObj(stmt)) continue;
    if ('notrack' in stmt) notrack = true;
    if ('snat' in stmt || 'dnat' in stmt || 'masquerade' in stmt || 'redirect' in stmt) nat = true;
    // `ct helper set "ftp"`: {"ct helper": "ftp"}; `ct mark set 1`: {"mangle": {"key": {"ct": {"key": "mark"}}, …}}.
    if ('ct helper' in stmt) ctWrites.add('helper');
    if ('ct timeout' in stmt) ctWrites.add('timeout');
    if ('ct expectation' in stmt) ctWrites.add('expectation');
    // Statements that need conntrack's entry without reading a key: `ct count`, a flowtable offload, synproxy.
    if ('ct count' in stmt) ctWrites.add('count');
    if ('flow' in stmt) ctWrites.add('flow');
    if ('synproxy' in stmt) ctWrites.add('synproxy');
    if ('mangle' in stmt || 'log' in stmt || 'queue' in stmt || 'dup' in stmt || 'fwd' in stmt || 'set' in stmt || 'meter' in stmt || 'limit' in stmt || 'quota' in stmt) ordered = true;
    const written = isObj(stmt.mangle) && isObj(stmt.mangle.key) ? stmt.mangle.key : null;
    if (written && isObj(written.ct) && typeof written.ct.key === 'string') ctWrites.add(written.ct.key);
    // iptables-nft's untranslated matches and targets (xt): their names only.
    const xt = stmt.xt;
    if (isObj(xt) && typeof xt.name === 'string') {
      if (xt.type === 'match' && /^(conntrack|state)$/.test(xt.name)) ctReads.add(`xt ${xt.name}`);
      if (xt.type === 'match' && /^(connmark|connlimit|helper|connbytes|connlabel)$/.test(xt.name)) ctReads.add(`xt ${xt.name}`);
      if (xt.type === 'target' && /^(CT|CONNMARK|CONNSECMARK)$/.test(xt.name)) ctWrites.add(`xt ${xt.name}`);
      if (xt.type === 'target' && xt.name === 'NOTRACK') notrack = true;
      if (xt.type === 'target' && /^(DNAT|SNAT|MASQUERADE|REDIRECT)$/.test(xt.name)) nat = true;
      if (xt.type === 'target' && xt.name === 'REJECT') drop = true;
      else if (xt.type === 'target') ordered = true;
    }
    // Everything else in the statement: reads (matches, map and vmap keys, values), verdicts
    // anywhere (a vmap's `drop`), jumps. Only the key a mangle writes is not a read.
    for (const [key, o] of walk(stmt)) {
      if (o === written) continue;
      if ('drop' in o || 'reject' in o) drop = true;
      if ((key === 'jump' || key === 'goto') && typeof o.target === 'string') jumps.push(o.target);
      if (isObj(o.ct) && o.ct !== written?.ct && typeof o.ct.key === 'string') ctReads.add(o.ct.key);
    }
  }
  ordered ||= notrack || nat || ctWrites.size > 0;
  return { ctReads: [...ctReads].sort(), ctWrites: [...ctWrites].sort(), notrack, nat, drop, ordered, jumps };
}

export function parseNftRuleset(text: string): Ruleset {
  const out: Ruleset = { chains: [], rules: [] };
  // nft -j prints its metainfo even for an empty ruleset: no text is not an empty ruleset.
  if (text.trim() === '') throw new ParseError(WHAT, 1, '', 'no output (nft -j prints a metainfo object even for an empty ruleset)');
  const j = parseJsonBounded(text, WHAT, 1);
  const items = isObj(j) ? j.nftables : undefined;
  if (!Array.isArray(items)) throw new ParseError(WHAT, 1, text.slice(0, 80), 'no "nftables" array');
  for (const it of items) {
    if (!isObj(it)) continue;
    const c = it.chain;
    if (isObj(c) && typeof c.family === 'string' && typeof c.table === 'string' && typeof c.name === 'string') {
      const chain: RulesetChain = { family: c.family, table: c.table, name: c.name, devices: [] };
      if (typeof c.hook === 'string') chain.hook = c.hook;
      if (typeof c.prio === 'number') chain.prio = c.prio;
      if (typeof c.type === 'string') chain.type = c.type;
      if (typeof c.policy === 'string') chain.policy = c.policy;
      // "dev": one name (nftables < 1.0.9) or a list.
      if (typeof c.dev === 'string') chain.devices = [c.dev];
      else if (Array.isArray(c.dev)) chain.devices = c.dev.filter((d): d is string => typeof d === 'string');
      out.chains.push(chain);
    }
    const r = it.rule;
    if (isObj(r) && typeof r.family === 'string' && typeof r.table === 'string' && typeof r.chain === 'string' && typeof r.handle === 'number') {
      if (!Array.isArray(r.expr)) throw new ParseError(WHAT, 1, JSON.stringify(r).slice(0, 80), 'a rule with no "expr" list');
      out.rules.push({ family: r.family, table: r.table, chain: r.chain, handle: r.handle, ...ruleFeatures(r.expr) });
    }
  }
  return out;
}
