/** The fleet view as text: one row a target, then what stands out (failures, warnings, differences). */
import Table from 'cli-table3';
import type { FleetTarget, HooksFleetReport } from '../model/hooks-fleet.js';
import type { EntryChange } from '../model/hooks-lint.js';
import { entryLabel } from './hooks-diff.js';

function findings(t: FleetTarget): string {
  if (!t.lint) return '';
  const by = new Map<string, number>();
  for (const f of t.lint.findings) by.set(`${f.code} ${f.severity}`, (by.get(`${f.code} ${f.severity}`) ?? 0) + 1);
  const parts = [...by].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k));
  if (t.lint.notJudged.length) parts.push(`${t.lint.notJudged.length} not judged`);
  return parts.join(', ') || 'none';
}

function versus(t: FleetTarget): string {
  if (!t.diff) return t.lint ? 'baseline' : '';
  const n = t.diff.reduce((s, h) => s + h.changes.length, 0);
  return n === 0 ? 'same' : `${n} change${n > 1 ? 's' : ''} in ${t.diff.length} hook${t.diff.length > 1 ? 's' : ''}`;
}

function change(c: EntryChange): string {
  const e = entryLabel(c.entry);
  switch (c.kind) {
    case 'added': return `+ ${c.entry.priority} ${e}`;
    case 'removed': return `- ${c.entry.priority} ${e}`;
    case 'priority': return `~ ${e}: priority ${c.from} → ${c.to}`;
    case 'moved': return `↕ ${c.entry.priority} ${e}: place ${c.from + 1} → ${c.to + 1}`;
  }
}

export function renderHooksFleet(r: HooksFleetReport): string {
  const count = (s: FleetTarget['status']) => r.targets.filter((t) => t.status === s).length;
  const head = `${r.targets.length} targets (netns ${r.netns}), ${r.parallel} at a time, ${r.deadlineS} s each at most: ` +
    `${count('ok')} answered, ${count('failed')} failed, ${count('timed out')} timed out, in ${(r.durationMs / 1000).toFixed(1)} s; ` +
    (r.baseline.source ? `baseline ${r.baseline.source}${r.baseline.kernel ? ` (${r.baseline.kernel})` : ''}${r.baseline.why ? `: ${r.baseline.why}` : ''}` : `no baseline: ${r.baseline.why ?? 'none'}`);
  const table = new Table({ head: ['target', 'status', 'kernel', 'backend', 'findings', 'vs baseline', 's'], style: { head: [], border: [] } });
  for (const t of r.targets) table.push([t.target, t.status, t.kernel ?? '', t.backend ?? '', findings(t), versus(t), (t.durationMs / 1000).toFixed(1)]);
  const details: string[] = [];
  for (const t of r.targets) {
    const lines: string[] = [];
    if (t.reason) lines.push(`  ${t.status}: ${t.reason}`);
    for (const f of t.lint?.findings.filter((x) => x.severity !== 'info') ?? []) lines.push(`  ${f.code} ${f.severity}: ${f.message}`);
    for (const w of t.lint?.notJudged ?? []) lines.push(`  not judged: ${w}`);
    for (const h of t.diff ?? []) for (const c of h.changes) lines.push(`  ${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''}: ${change(c)}`);
    for (const n of t.diff?.length ? (t.diffNotes ?? []) : []) lines.push(`  (${n})`);
    if (lines.length) details.push([t.target, ...lines].join('\n'));
  }
  return [head, table.toString(), ...details].join('\n\n');
}
