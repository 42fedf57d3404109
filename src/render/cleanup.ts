import type { JournalReport } from '../model/cleanup.js';

/**
 * `nfscope cleanup`'s text: each journal's run, then each change with what became of it and the
 * commands its undo runs. `show` writes an argv as a command line (lib/errors.ts: showCommand).
 */
export function renderCleanup(reports: JournalReport[], show: (argv: readonly string[]) => string): string {
  if (reports.length === 0) return 'nothing to clean up: no journal of a killed nfscope run\n';
  let out = '';
  for (const r of reports) {
    if (r.untrusted) {
      out += `journal ${r.journal}: ${r.note}\n`;
      continue;
    }
    out += `run ${r.pid} (nfscope ${r.argv.join(' ')}), started ${r.started}, target ${r.target}${r.note ? `: ${r.note}` : ''}\n`;
    if (r.actions.length === 0) out += '  nothing left to undo\n';
    for (const a of r.actions) {
      out += `  ${a.result.padEnd(14)} ${a.what}\n`;
      for (const argv of a.argv) out += `  ${''.padEnd(14)}   $ ${show(argv)}\n`;
    }
  }
  return out;
}
