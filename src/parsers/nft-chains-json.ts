/**
 * `nft -j list chains` (nftables 1.0+) → the netfilter hook of each base
 * chain, keyed "family table chain". Pure.
 */
import { ParseError } from '../lib/errors.js';
import { NFT_HOOK } from '../model/hooks.js';


export function parseNftChainHooks(text: string): Map<string, string> {
  const out = new Map<string, string>();
  if (text.trim() === '') return out;
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new ParseError('nft -j list chains', 1, text.slice(0, 80), (e as Error).message);
  }
  const items = (j as { nftables?: unknown[] }).nftables;
  if (!Array.isArray(items)) throw new ParseError('nft -j list chains', 1, text.slice(0, 80), 'no "nftables" array');
  for (const it of items) {
    const c = (it as { chain?: { family?: unknown; table?: unknown; name?: unknown; hook?: unknown } }).chain;
    if (!c || typeof c.family !== 'string' || typeof c.table !== 'string' || typeof c.name !== 'string') continue;
    if (typeof c.hook === 'string') out.set(`${c.family} ${c.table} ${c.name}`, NFT_HOOK[c.hook] ?? c.hook.toUpperCase());
  }
  return out;
}
