import { ParseError } from '../lib/errors.js';
import { parseJsonBounded } from './json-guard.js';
import { FAMILIES, HOOK_NAMES, nftFamily, xtFamily, type Family, type HookEntry, type HookList } from '../model/hooks.js';
import { baseSymbol, classify } from '../model/owners.js';

/**
 * payload/drgn/nf_hooks.py prints one JSON object a line:
 *   {"family": "ipv4", "hook": 1, "device": null, "priority": 0, "callback": "nft_do_chain_ipv4"}
 * in invocation order per hook, with what the entry runs where its priv says it (its docstring:
 * chain, xtTable, bpfProg, flowtable, nested, or unread and why).
 */
export function drgnHooks(text: string): { hooks: HookList[]; warnings: string[] } {
  const out = new Map<string, HookList>();
  const warnings: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const bad = (why: string) => new ParseError('drgn nf_hooks.py output', i + 1, line, why);
    const v = parseJsonBounded(line, 'drgn nf_hooks.py output', i + 1) as Record<string, unknown>;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
    const fam = v.family as Family;
    if (!FAMILIES.includes(fam)) throw bad('unknown family');
    const hook = typeof v.hook === 'number' ? HOOK_NAMES[fam][v.hook] : undefined;
    if (!hook) throw bad('hook number out of range');
    const device = typeof v.device === 'string' ? v.device : undefined;
    const key = `${fam}/${hook}/${device ?? ''}`;
    let h = out.get(key);
    if (!h) {
      h = { family: fam, hook, ...(device !== undefined ? { device } : {}), entries: [] };
      out.set(key, h);
    }
    h.entries.push(entry(v, bad, (w) => warnings.push(`${fam} ${hook}${device ? ` (dev ${device})` : ''}: ${w}`), 0));
  });
  return { hooks: [...out.values()], warnings };
}

/** The listing alone (`nfscope parse hooks`, the tests that compare callbacks). */
export function parseDrgnHooks(text: string): HookList[] {
  return drgnHooks(text).hooks;
}

const str = (x: unknown): x is string => typeof x === 'string';
const int = (x: unknown): x is number => Number.isInteger(x);
const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function entry(v: Record<string, unknown>, bad: (why: string) => ParseError, warn: (w: string) => void, depth: number): HookEntry {
  if (!int(v.priority) || !str(v.callback)) throw bad('priority/callback missing');
  const e = classify(v.callback, v.priority);
  const at = `${v.callback} at priority ${v.priority}`;
  if (v.unread !== undefined) {
    if (!str(v.unread)) throw bad('unread: a reason expected');
    warn(`${at}: what it runs could not be read (${v.unread})`);
  }
  if (v.chain !== undefined) {
    const c = v.chain;
    if (!obj(c) || !int(c.nfproto) || !str(c.table) || !str(c.chain)) throw bad('chain: {nfproto, table, chain} expected');
    e.chain = { family: nftFamily(c.nfproto), table: c.table, chain: c.chain };
  }
  if (v.xtTable !== undefined) {
    const t = v.xtTable;
    if (!obj(t) || !int(t.af) || !str(t.name)) throw bad('xtTable: {af, name} expected');
    // As the bpftrace walk's X record: a table of the walker's own family, or said.
    // As the X record: a table of the walker's own family and a name x_tables would register.
    if (t.af === xtFamily(baseSymbol(v.callback)) && /^[a-z][a-z0-9_]{0,30}$/.test(t.name)) e.xtTable = t.name;
    else warn(`${at}: its table could not be read (af ${t.af}, name ${JSON.stringify(t.name.slice(0, 40))})`);
  }
  if (v.bpfProg !== undefined) {
    const p = v.bpfProg;
    if (!obj(p) || !int(p.id) || !str(p.name)) throw bad('bpfProg: {id, name} expected');
    // As the P record: an id is never 0 (idr_alloc_cyclic from 1), a name is bpf_obj_name_cpy's.
    if (p.id === 0 || !/^[A-Za-z0-9_.]{0,15}$/.test(p.name)) warn(`${at}: its program could not be read (id ${p.id}, name ${JSON.stringify(p.name.slice(0, 40))})`);
    else e.bpfProg = { id: p.id, name: p.name };
  }
  if (v.flowtable !== undefined) {
    const f = v.flowtable;
    if (!obj(f) || !int(f.nfproto) || !str(f.table) || !str(f.name)) throw bad('flowtable: {nfproto, table, name} expected');
    e.flowtable = { family: nftFamily(f.nfproto), table: f.table, name: f.name };
  }
  if (v.nested !== undefined) {
    // nf_nat's own list holds chains, never another nf_nat entry: one level.
    if (!Array.isArray(v.nested) || depth > 0) throw bad('nested: a list of entries, one level deep');
    const nested = v.nested.map((n) => {
      if (!obj(n)) throw bad('nested: a list of entries');
      return entry(n, bad, warn, depth + 1);
    });
    // nf_nat's entry with no chain behind it yet: no nested list, as the bpftrace walk gives it.
    if (nested.length) e.nested = nested;
  }
  return e;
}
