import Table from 'cli-table3';
import type { HooksReport } from '../model/hooks.js';

/** The human rendering of a hooks report: one table a family/hook. */
export function renderHooksTable(r: HooksReport): string {
  const out: string[] = [];
  out.push(`kernel ${r.kernel}, netns ${r.netns}, backend ${r.backend}`);
  if (r.hooks.length === 0) out.push('no netfilter hooks registered in this namespace');
  for (const h of r.hooks) {
    const t = new Table({
      head: ['priority', 'callback', 'owner', 'ct'],
      colAligns: ['right', 'left', 'left', 'center'],
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const e of h.entries) t.push([String(e.priority), e.callback, e.owner, e.conntrack ? '*' : '']);
    const title = `${h.family} ${h.hook}${h.device ? ` (dev ${h.device})` : ''}`;
    out.push('', title, t.toString());
    if (h.truncated) out.push(`  (only ${h.truncated.listed} of ${h.truncated.total} entries listed)`);
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push('', '* = conntrack callback; lower priority runs first; equal priorities: the later registered runs first');
  return out.join('\n');
}
