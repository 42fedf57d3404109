import { compareListings } from '../analysis/hooks-diff.js';
import { HOOKS_FLEET_SCHEMA_VERSION, type FleetTarget, type HooksFleetReport } from '../model/hooks-fleet.js';
import type { HooksReport } from '../model/hooks.js';
import type { HooksLintReport } from '../model/hooks-lint.js';
import { hooksLintReports, type HooksQuery } from './hooks.js';
import { overFleet } from './fleet.js';

/**
 * The fleet view: each target listed and linted (experiments/fleet.ts: bounded, each within its
 * deadline), then each listing against the baseline: a saved listing, or the first target that
 * answered (said in the report, as is "none" when no target answered).
 */
export async function hooksFleet(
  specs: readonly string[], o: HooksQuery & { kernel?: string },
  run: { parallel: number; deadlineS: number; kernel?: string; progress: (m: string) => void },
  saved: { source: string; listing: HooksReport } | null,
): Promise<HooksFleetReport> {
  const t0 = performance.now();
  const outcomes = await overFleet(specs, { parallel: run.parallel, deadlineMs: run.deadlineS * 1000, kernel: run.kernel ?? o.kernel, progress: run.progress }, async (t) => {
    const r = await hooksLintReports(t, { ...o, allNetns: false });
    return { lint: r.reports[0]!, listing: r.listings[0]! };
  });
  // The first that answered: a fleet whose first host is down still gets its rows compared, and
  // the report says which one they are compared with, and why it is not the first.
  const baselineIdx = saved ? -1 : outcomes.findIndex((x) => x.status === 'ok');
  const baseline: HooksReport | null = saved?.listing ?? outcomes[baselineIdx]?.value?.listing ?? null;
  const targets: FleetTarget[] = outcomes.map((x, i) => {
    const row: FleetTarget = { target: x.target, status: x.status, durationMs: x.durationMs, ...(x.reason ? { reason: x.reason } : {}) };
    if (!x.value) return row;
    const lint: HooksLintReport = x.value.lint;
    row.kernel = lint.kernel;
    row.backend = x.value.listing.backend;
    row.lint = lint;
    if (baseline && i !== baselineIdx) {
      const c = compareListings(baseline, x.value.listing);
      row.diff = c.hooks;
      if (c.notes.length) row.diffNotes = c.notes;
    }
    return row;
  });
  const report: HooksFleetReport = {
    schemaVersion: HOOKS_FLEET_SCHEMA_VERSION,
    baseline: {
      source: saved?.source ?? (baselineIdx >= 0 ? specs[baselineIdx]! : null),
      kernel: baseline?.kernel ?? null,
      ...(baselineIdx > 0 ? { why: `the first target that answered (${specs.slice(0, baselineIdx).join(', ')} did not)` } : {}),
      ...(!saved && baselineIdx < 0 ? { why: 'no target answered' } : {}),
    },
    netns: o.netns ?? '(current)',
    parallel: run.parallel,
    deadlineS: run.deadlineS,
    durationMs: Math.round(performance.now() - t0),
    targets,
  };
  return report;
}
