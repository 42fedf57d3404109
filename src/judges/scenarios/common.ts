/** What the scenarios' judges share. Pure. */
import type { HookEntry, HookList } from '../../model/hooks.js';
import type { Evidence } from '../../model/lab.js';
import type { Counts, CtTableState, Listing } from '../../model/scenario.js';

/** A count the run must have read: a rule it loaded that is missing from the read is the run's bug, not a zero. */
export function count(c: Counts, name: string): number {
  const v = c[name];
  if (v === undefined) throw new Error(`no counter "${name}" was read: the scenario loaded it, so the read is incomplete`);
  return v;
}

export function countsEvidence(title: string, c: Counts, shows: string): Evidence {
  return { kind: 'counter', title, lines: Object.entries(c).map(([k, v]) => `${k.padEnd(12)} ${v} packet(s)`), shows };
}

export function listingEvidence(title: string, l: Listing, shows: string): Evidence[] {
  return 'hooks' in l ? [{ kind: 'hooks', title, hooks: l.hooks, shows }] : [];
}

/** The entries of a hook (ipv4), in invocation order. */
export function hookEntries(hooks: HookList[], hook: string): HookEntry[] {
  return hooks.find((h) => h.family === 'ipv4' && h.hook === hook && !h.device)?.entries ?? [];
}

/** Index of the base chain `table`/`chain` in `entries`, where the listing names chains (-1: not there). */
export function chainIndex(entries: HookEntry[], table: string, chain: string): number {
  return entries.findIndex((e) => e.chain?.table === table && e.chain.chain === chain);
}

/** How much a `conntrack -S` counter grew between two reads; one this kernel does not report is an error of the run. */
export function statGrew(before: CtTableState, after: CtTableState, name: string): number {
  const a = before.stats[name];
  const b = after.stats[name];
  if (a === undefined || b === undefined) throw new Error(`conntrack -S reported no "${name}" counter: the kernel reports ${Object.keys(after.stats).join(', ')}`);
  return b - a;
}

/** `conntrack -C` and `-S` as evidence lines. */
export function tableStateLines(s: CtTableState, max?: number): string[] {
  return [`conntrack -C: ${s.count} entries${max !== undefined ? ` (nf_conntrack_max ${max})` : ''}`, ...s.statsLines];
}
