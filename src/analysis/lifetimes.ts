import { NO_REASON, reasonText } from '../model/trace-syn.js';
/**
 * ct_life.bt's maps as a report, pure: every entry accounted for (confirmed,
 * freed unconfirmed, freed confirmed, alive), lifetimes, why and where the
 * unconfirmed ones died.
 */
import { LIFETIMES_SCHEMA_VERSION, span, type LifetimesReport } from '../model/lifetimes.js';
import { hookFromStack } from '../model/stack-hooks.js';
import type { CtLife } from '../parsers/ct-life.js';

export function emptyLife(): CtLife {
  return {
    allocated: 0, confirmed: 0, freedUnconfirmed: 0, freedConfirmed: 0, lifeUnconfirmed: [], lifeConfirmed: [],
    why: new Map(), deaths: [], dropStacks: [], born: new Map(), conf: new Set(), endNsecs: null, deathStacksTaken: 0,
  };
}

/** ct_life.bt's @why key: a reason, -1 for a free without a drop, NO_REASON where kfree_skb has no reason field. */
function deathReason(code: number, reasons: Map<number, string>): string {
  if (code === -1) return 'not dropped (freed another way)';
  if (code === NO_REASON) return `dropped: ${reasonText(null)}`;
  return reasons.get(code) ?? `unknown (${code})`;
}

export function buildReport(
  kernel: string, targetName: string, spec: { port: number | null; netns?: { label: string } }, durationS: number, l: CtLife, reasons: Map<number, string>, lost: number,
): LifetimesReport {
  const aliveConfirmed = [...l.born.keys()].filter((k) => l.conf.has(k)).length;
  const ages = l.endNsecs !== null ? [...l.born.values()].map((b) => Number(l.endNsecs! - b) / 1000) : [];
  const byHook = new Map<string, { hook: string | null; callback: string | null; count: number }>();
  for (const s of l.dropStacks) {
    const at = hookFromStack(s.frames);
    const key = `${at.hook}/${at.callback}`;
    const h = byHook.get(key) ?? { hook: at.hook, callback: at.callback, count: 0 };
    h.count += s.count;
    byHook.set(key, h);
  }
  const accounted = l.freedUnconfirmed + l.freedConfirmed + l.born.size;
  return {
    schemaVersion: LIFETIMES_SCHEMA_VERSION,
    kernel,
    target: targetName,
    filter: { port: spec.port, netns: spec.netns?.label ?? null },
    durationS: Math.round(durationS * 10) / 10,
    counts: {
      allocated: l.allocated,
      confirmed: l.confirmed,
      freedUnconfirmed: l.freedUnconfirmed,
      freedConfirmed: l.freedConfirmed,
      aliveAtEnd: l.born.size,
      aliveConfirmed,
      aliveUnconfirmed: l.born.size - aliveConfirmed,
    },
    lifetimesUs: { unconfirmed: l.lifeUnconfirmed, confirmed: l.lifeConfirmed },
    aliveAgeUs: span(ages),
    deaths: {
      byReason: [...l.why.entries()]
        .map(([code, count]) => ({ reason: deathReason(code, reasons), code: code < 0 ? null : code, count }))
        .sort((a, b) => b.count - a.count),
      byHook: [...byHook.values()].sort((a, b) => b.count - a.count),
      stacks: l.deaths.map((s) => ({ count: s.count, frames: s.frames })).sort((a, b) => b.count - a.count).slice(0, 5),
      stacksOfFirst: l.deathStacksTaken && l.deathStacksTaken < l.freedUnconfirmed ? l.deathStacksTaken : null,
    },
    lost: { events: lost, untracked: Math.max(0, l.allocated - accounted) },
    unavailable: [],
  };
}
