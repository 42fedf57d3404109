/**
 * Two hook listings of one namespace, entry by entry: added, removed, priority changed, and
 * moved (same priority, another place among the entries of that priority both have: equal
 * priorities run in reverse order of registration, so a reload moves them). Entries run behind
 * another (NAT chains under nf_nat's entry) are compared too, under it. Pure.
 */
import { NAT_CHAIN_FN, runsChain, type HookEntry, type HookList, type HooksReport } from '../model/hooks.js';
import { entryRef, type EntryChange, type EntryRef, type HookDiff } from '../model/hooks-lint.js';

interface Item { key: string; e: HookEntry; under?: HookEntry }

const ref = (x: Item): EntryRef => entryRef(x.e, x.under);

/**
 * Each entry with its identity: callback, chain (unless chains are ignored) and the entry it runs
 * behind; a second of the same identity is #2, and so on.
 */
function items(entries: HookEntry[], ignoreChains: boolean): Item[] {
  const seen = new Map<string, number>();
  const flat = entries.flatMap((e): Omit<Item, 'key'>[] => [{ e }, ...(e.nested ?? []).map((n) => ({ e: n, under: e }))]);
  return flat.map((x) => {
    const chain = !ignoreChains && x.e.chain ? `${x.e.chain.family} ${x.e.chain.table} ${x.e.chain.chain}` : '';
    const id = `${x.under ? `${x.under.callback}>` : ''}${x.e.callback}|${chain}`;
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return { ...x, key: `${id}#${n}` };
  });
}

/**
 * Pairs B's entries with A's: first those of one identity at one priority, then what is left of
 * an identity by order (a priority change). From 5.16 every iptables-legacy table is an unnamed
 * `ipt_do_table`: a mangle table added beside filter is an added entry, not filter's priority change.
 */
function paired(ia: Item[], ib: Item[]): Item[] {
  const byPrio = (x: Item) => `${x.key.replace(/#\d+$/, '')}@${x.e.priority}`;
  const free = new Map<string, Item[]>();
  for (const x of ia) free.set(byPrio(x), [...(free.get(byPrio(x)) ?? []), x]);
  const keyOf = new Map<Item, string>();
  for (const x of ib) {
    const m = free.get(byPrio(x))?.shift();
    if (m) keyOf.set(x, m.key);
  }
  const used = new Set(keyOf.values());
  const left = new Map<string, Item[]>();
  for (const x of ia) if (!used.has(x.key)) { const id = x.key.replace(/#\d+$/, ''); left.set(id, [...(left.get(id) ?? []), x]); }
  return ib.map((x) => {
    const k = keyOf.get(x) ?? left.get(x.key.replace(/#\d+$/, ''))?.shift()?.key;
    // Unpaired: a key A does not have (an added entry).
    return { ...x, key: k ?? `${x.key}+b` };
  });
}

export function diffHookList(a: HookEntry[], b: HookEntry[], ignoreChains = false): EntryChange[] {
  const ia = items(a, ignoreChains);
  const ib = paired(ia, items(b, ignoreChains));
  const inA = new Map(ia.map((x) => [x.key, x]));
  const inB = new Map(ib.map((x) => [x.key, x]));
  const changes: EntryChange[] = [];
  for (const x of ia) if (!inB.has(x.key)) changes.push({ kind: 'removed', entry: ref(x) });
  for (const x of ib) if (!inA.has(x.key)) changes.push({ kind: 'added', entry: ref(x) });
  // Order is compared only among entries of one priority (and one list) in both: a neighbour's
  // priority change or an entry added elsewhere moves nothing.
  const group = (x: Item) => `${x.under?.callback ?? ''}|${x.e.priority}`;
  const same = (xs: Item[], other: Map<string, Item>) => xs.filter((x) => other.has(x.key) && other.get(x.key)!.e.priority === x.e.priority);
  const orderA = same(ia, inB);
  const orderB = same(ib, inA);
  for (const x of ib) {
    const before = inA.get(x.key);
    if (!before) continue;
    if (before.e.priority !== x.e.priority) {
      changes.push({ kind: 'priority', entry: ref(x), from: before.e.priority, to: x.e.priority });
      continue;
    }
    const g = group(x);
    const from = orderA.filter((y) => group(y) === g).findIndex((y) => y.key === x.key);
    const to = orderB.filter((y) => group(y) === g).findIndex((y) => y.key === x.key);
    if (from !== to) changes.push({ kind: 'moved', entry: ref(x), from, to });
  }
  return changes;
}

const where = (l: HookList) => `${l.family} ${l.hook} ${l.device ?? ''}`;

/** Every hook either listing has, with its changes; hooks with none are left out. */
export function diffHooks(a: HookList[], b: HookList[], ignoreChains = false): HookDiff[] {
  const keys = [...new Set([...a, ...b].map(where))];
  const out: HookDiff[] = [];
  for (const k of keys) {
    const la = a.find((l) => where(l) === k);
    const lb = b.find((l) => where(l) === k);
    const l = (la ?? lb)!;
    const changes = diffHookList(la?.entries ?? [], lb?.entries ?? [], ignoreChains);
    if (changes.length) out.push({ family: l.family, hook: l.hook, ...(l.device ? { device: l.device } : {}), changes });
  }
  return out;
}

/** Whether a listing has an entry that runs nf_tables chains (nft_do_chain_*, nf_nat's nested ones). */
function hasChainEntries(hooks: HookList[]): boolean {
  return hooks.some((l) => l.entries.some((e) => [e, ...(e.nested ?? [])].some((x) => runsChain(x.callback) || x.callback === NAT_CHAIN_FN)));
}

/** Whether a listing names any chain (a backend or kernel that cannot leaves them all unnamed). */
export function namesChains(hooks: HookList[]): boolean {
  return hooks.some((l) => l.entries.some((e) => e.chain !== undefined || (e.nested ?? []).some((n) => n.chain !== undefined)));
}

/**
 * Two listings of one namespace compared as `hooks --diff` and the fleet do: hook by hook, with
 * what makes the comparison less than entry for entry said in notes. `a` and `b` name the sides.
 */
export function compareListings(a: HooksReport, b: HooksReport): { hooks: HookDiff[]; notes: string[] } {
  const notes: string[] = [];
  // One listing names nf_tables chains and the other cannot (another backend, another kernel):
  // entries are then compared by callback only, and the report says so. A listing with no chain
  // entry at all names none because there is none: that is no blindness.
  const blind = hasChainEntries(a.hooks) && hasChainEntries(b.hooks) && namesChains(a.hooks) !== namesChains(b.hooks);
  if (blind) notes.push(`${namesChains(a.hooks) ? 'b' : 'a'} names no nf_tables chain: entries compared by callback and priority, not by chain`);
  if (!a.families || !b.families) notes.push('a listing saved without its families: a family only one lists shows as added or removed');
  else if (a.families.join() !== b.families.join()) notes.push(`a lists ${a.families.join(', ')}; b lists ${b.families.join(', ')}: a family only one lists shows as added or removed`);
  if (a.backend !== b.backend) notes.push(`listed by ${a.backend} and by ${b.backend}: a backend that names no chain, or lists no netdev hook, shows that as a difference`);
  if (a.kernel !== b.kernel) notes.push(`kernels differ (${a.kernel}, ${b.kernel}): a callback renamed between versions (ipv4_confirm became nf_confirm in 6.2) shows as removed and added`);
  for (const [side, r] of [['a', a], ['b', b]] as const) {
    for (const l of r.hooks.filter((x) => x.truncated)) notes.push(`${side}'s ${l.family} ${l.hook} lists ${l.truncated!.listed} of ${l.truncated!.total} entries: what it left out is not compared`);
  }
  return { hooks: diffHooks(a.hooks, b.hooks, blind), notes };
}
