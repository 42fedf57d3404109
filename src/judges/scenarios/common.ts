/** What the scenarios' judges share. Pure. */
import type { HookEntry, HookList } from '../../model/hooks.js';
import type { Evidence } from '../../model/lab.js';
import type { Counts, Listing } from '../../model/scenario.js';

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
