import Table from 'cli-table3';
import type { HookList, HooksReport } from '../model/hooks.js';

/** cli-table3 borders without a rule between rows. */
export const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** One table a family/hook (netdev: a device), entries in invocation order. */
export function renderHookLists(hooks: HookList[]): string[] {
  const out: string[] = [];
  for (const h of hooks) {
    const t = new Table({
      head: ['priority', 'callback', 'owner', 'ct'],
      colAligns: ['right', 'left', 'left', 'center'],
      style: { head: [], border: [] },
      chars: COMPACT,
    });
    for (const e of h.entries) t.push([String(e.priority), e.callback, e.owner, e.conntrack ? '*' : '']);
    const title = `${h.family} ${h.hook}${h.device ? ` (dev ${h.device})` : ''}`;
    out.push('', title, t.toString());
    if (h.truncated) out.push(`  (only ${h.truncated.listed} of ${h.truncated.total} entries listed)`);
  }
  return out;
}

/** The human rendering of a hooks report. */
export function renderHooksTable(r: HooksReport): string {
  const out: string[] = [`kernel ${r.kernel}, netns ${r.netns}, backend ${r.backend}`];
  if (r.hooks.length === 0) out.push('no netfilter hooks registered in this namespace');
  out.push(...renderHookLists(r.hooks));
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push('', '* = conntrack callback; lower priority runs first; equal priorities: the later registered runs first');
  return out.join('\n');
}
