/**
 * What ct_syn.bt's records say, pure: each callback that saw the SYN with the
 * verdicts it returned, and the life of the unconfirmed entry.
 */
import { HOOK_NAMES, type HookList, type IpFamily } from '../model/hooks.js';
import { verdictName, type CallbackHit, type DropObservation, type Unconfirmed } from '../model/trace-syn.js';
import { IPS_CONFIRMED, type CtSynTrace } from '../parsers/ct-syn.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p + 0.5))]!;
}

/**
 * Each callback that saw the SYN, with the verdicts it returned. A C record
 * (the call) is paired with the next R record (its return) of the same
 * callback: hook callbacks run one after another on a thread, never nested.
 * Ordered as the packet met them: hook order, then priority (the first SYN's
 * timestamps agree; the listing's order is the kernel's).
 */
export function callbackHits(t: CtSynTrace, hooks: HookList[], family: IpFamily, drop: Pick<DropObservation, 'hook' | 'callback'> | null = null): CallbackHit[] {
  const hits = new Map<string, CallbackHit>();
  const returns = [...t.returns];
  for (const c of t.callbacks) {
    const hook = HOOK_NAMES[family][c.hooknum] ?? `hook ${c.hooknum}`;
    const key = `${c.callback}@${hook}`;
    const entry = hooks.find((h) => h.family === family && h.hook === hook)?.entries.find((e) => e.callback === c.callback);
    const h = hits.get(key) ?? { hook, priority: entry?.priority ?? null, callback: c.callback, owner: entry?.owner ?? null, conntrack: entry?.conntrack ?? false, hits: 0, verdicts: {}, verdict: null, dropped: false };
    h.hits++;
    const i = returns.findIndex((r) => r.callback === c.callback && r.nsecs >= c.nsecs);
    if (i >= 0) {
      const v = verdictName(returns[i]!.verdict);
      returns.splice(i, 1);
      h.verdicts[v] = (h.verdicts[v] ?? 0) + 1;
      h.verdict = h.verdict === null || h.verdict === v ? v : 'mixed';
    }
    hits.set(key, h);
  }
  for (const h of hits.values()) {
    const freedInside = drop !== null && drop.callback === h.callback && drop.hook === h.hook;
    h.dropped = Boolean(h.verdicts.DROP) || (freedInside && (h.verdicts.STOLEN !== undefined || h.verdict === null));
  }
  const order = HOOK_NAMES[family];
  return [...hits.values()].sort((a, b) => order.indexOf(a.hook) - order.indexOf(b.hook) || (a.priority ?? 0) - (b.priority ?? 0));
}

/**
 * Each entry's life in time order. Entries are told apart by lifetime, not by
 * address: the slab hands a freed nf_conn's address to the next allocation
 * (seen on 6.1: three SYNs, one address).
 */
export function unconfirmedLife(t: CtSynTrace): Unconfirmed {
  type Ev = { at: bigint; kind: 'A' | 'F' | 'X'; ct: string; status?: number };
  const evs: Ev[] = [
    ...t.allocs.map((a): Ev => ({ at: a.nsecs, kind: 'A', ct: a.ct })),
    ...t.confirms.map((c): Ev => ({ at: c.nsecs, kind: 'F', ct: c.ct })),
    ...t.frees.map((f): Ev => ({ at: f.nsecs, kind: 'X', ct: f.ct, status: f.status })),
  ].sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));
  const live = new Map<string, { confirmed: boolean }>();
  let confirmed = 0;
  for (const e of evs) {
    const l = live.get(e.ct);
    if (e.kind === 'A') live.set(e.ct, { confirmed: false });
    else if (e.kind === 'F' && l && !l.confirmed) {
      l.confirmed = true;
      confirmed++;
    } else if (e.kind === 'X') {
      if (l && !l.confirmed && e.status! & IPS_CONFIRMED) confirmed++;
      live.delete(e.ct);
    }
  }
  const unconf = t.frees.filter((f) => !(f.status & IPS_CONFIRMED));
  const us = unconf.map((f) => f.lifetimeNs / 1000).sort((a, b) => a - b);
  return {
    allocated: t.allocs.length,
    confirmed,
    freedUnconfirmed: unconf.length,
    lifetimeUs: us.length ? { min: round(us[0]!), p50: round(percentile(us, 0.5)), max: round(us.at(-1)!) } : null,
    destroyStack: unconf[0]?.stack ?? [],
    allocatedIn: t.allocs[0]?.stack ?? [],
  };
}

const round = (x: number) => Math.round(x * 10) / 10;
