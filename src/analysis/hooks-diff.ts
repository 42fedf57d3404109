/**
 * Two hook listings of one namespace, entry by entry: added, removed, priority changed, and
 * moved (same priority, another place among the entries both have: equal priorities run in
 * reverse order of registration, so a reload moves them). Pure.
 */
import type { HookEntry, HookList } from '../model/hooks.js';
import type { EntryChange, EntryRef, HookDiff } from '../model/hooks-lint.js';

const ref = (e: HookEntry): EntryRef => ({ priority: e.priority, callback: e.callback, owner: e.owner, ...(e.chain ? { chain: e.chain } : {}) });

/** An entry's identity: its callback and chain; a second of the same identity is #2, and so on. */
function keyed(entries: HookEntry[]): { key: string; e: HookEntry }[] {
  const seen = new Map<string, number>();
  return entries.map((e) => {
    const id = `${e.callback}|${e.chain ? `${e.chain.family} ${e.chain.table} ${e.chain.chain}` : ''}`;
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return { key: `${id}#${n}`, e };
  });
}

export function diffHookList(a: HookEntry[], b: HookEntry[]): EntryChange[] {
  const ka = keyed(a);
  const kb = keyed(b);
  const inB = new Map(kb.map((x) => [x.key, x.e]));
  const inA = new Map(ka.map((x) => [x.key, x.e]));
  const changes: EntryChange[] = [];
  for (const x of ka) if (!inB.has(x.key)) changes.push({ kind: 'removed', entry: ref(x.e) });
  for (const x of kb) if (!inA.has(x.key)) changes.push({ kind: 'added', entry: ref(x.e) });
  const commonA = ka.filter((x) => inB.has(x.key)).map((x) => x.key);
  const commonB = kb.filter((x) => inA.has(x.key)).map((x) => x.key);
  for (const x of kb) {
    const before = inA.get(x.key);
    if (!before) continue;
    if (before.priority !== x.e.priority) changes.push({ kind: 'priority', entry: ref(x.e), from: before.priority, to: x.e.priority });
    else if (commonA.indexOf(x.key) !== commonB.indexOf(x.key)) changes.push({ kind: 'moved', entry: ref(x.e), from: commonA.indexOf(x.key), to: commonB.indexOf(x.key) });
  }
  return changes;
}

const where = (l: HookList) => `${l.family} ${l.hook} ${l.device ?? ''}`;

/** Every hook either listing has, with its changes; hooks with none are left out. */
export function diffHooks(a: HookList[], b: HookList[]): HookDiff[] {
  const keys = [...new Set([...a, ...b].map(where))];
  const out: HookDiff[] = [];
  for (const k of keys) {
    const la = a.find((l) => where(l) === k);
    const lb = b.find((l) => where(l) === k);
    const l = (la ?? lb)!;
    const changes = diffHookList(la?.entries ?? [], lb?.entries ?? []);
    if (changes.length) out.push({ family: l.family, hook: l.hook, ...(l.device ? { device: l.device } : {}), changes });
  }
  return out;
}
