import { ParseError } from '../lib/errors.js';
import { parseJsonBounded } from './json-guard.js';
import { FAMILIES, HOOK_NAMES, type Family, type HookList } from '../model/hooks.js';
import { classify } from '../model/owners.js';

/**
 * payload/drgn/nf_hooks.py prints one JSON object a line:
 *   {"family": "ipv4", "hook": 1, "device": null, "priority": 0, "callback": "nft_do_chain_ipv4"}
 * in invocation order per hook.
 */
export function parseDrgnHooks(text: string): HookList[] {
  const out = new Map<string, HookList>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const bad = (why: string) => new ParseError('drgn nf_hooks.py output', i + 1, line, why);
    let v: { family?: unknown; hook?: unknown; device?: unknown; priority?: unknown; callback?: unknown };
    v = parseJsonBounded(line, 'drgn nf_hooks.py output', i + 1) as typeof v;
    if (typeof v !== 'object' || v === null) throw bad('not a JSON object');
    const fam = v.family as Family;
    if (!FAMILIES.includes(fam)) throw bad('unknown family');
    const hook = typeof v.hook === 'number' ? HOOK_NAMES[fam][v.hook] : undefined;
    if (!hook) throw bad('hook number out of range');
    if (typeof v.priority !== 'number' || typeof v.callback !== 'string') throw bad('priority/callback missing');
    const device = typeof v.device === 'string' ? v.device : undefined;
    const key = `${fam}/${hook}/${device ?? ''}`;
    let h = out.get(key);
    if (!h) {
      h = { family: fam, hook, ...(device !== undefined ? { device } : {}), entries: [] };
      out.set(key, h);
    }
    h.entries.push(classify(v.callback, v.priority));
  });
  return [...out.values()];
}
