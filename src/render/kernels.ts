import Table from 'cli-table3';
import type { VmKernelsReport } from '../model/kernels.js';

/** `nfscope vm kernels`: one row per alias, then when each suite's lists were fetched. */
export function renderKernels(report: VmKernelsReport, aptDir: string): string {
  const t = new Table({ head: ['alias', 'suite', 'package', 'version', 'cached'], style: { head: [], border: [] } });
  for (const a of report.aliases) {
    const pkg = a.package ? a.package + (a.parts.length > 1 ? ` (split: ${a.parts.map((p) => p.split('-')[1]).join(', ')})` : '') : `unresolved: ${a.error}`;
    t.push([a.alias, a.suite, pkg, a.debVersion ?? '', a.cached ? `yes (${a.release})` : 'no']);
  }
  const lists = Object.entries(report.lists).map(([s, at]) => `${s} ${at ? at.replace(/\.\d+Z$/, 'Z') : 'never fetched'}`);
  return `${t.toString()}\npackage lists (nfscope's own apt state in ${aptDir}): ${lists.join(', ')}\n`;
}
