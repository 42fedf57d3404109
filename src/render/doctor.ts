import Table from 'cli-table3';
import type { Capabilities } from '../model/capabilities.js';
import { COMPACT } from './hooks-table.js';

/** `nfscope doctor`'s text: the capabilities and tools, then what each missing or unknown one disables. */
export function renderDoctor(c: Capabilities): string {
  const out = [`kernel ${c.kernel}${c.root ? '' : ' (not root: most checks need root)'}`,
    `kernel config: ${c.kconfigSource ?? 'unreadable'}`, ''];
  const t = new Table({ head: ['capability', 'ok', 'detail'], style: { head: [], border: [] }, chars: COMPACT, wordWrap: true, colWidths: [18, 5, 70] });
  for (const cap of c.caps) t.push([cap.id, cap.available === null ? '?' : cap.available ? 'yes' : 'NO', cap.detail]);
  out.push(t.toString(), '');
  const tt = new Table({ head: ['tool', 'version', 'path'], style: { head: [], border: [] }, chars: COMPACT });
  for (const tool of c.tools) tt.push([tool.name, tool.version ?? (tool.path ? '?' : 'missing'), tool.path ?? '-']);
  out.push(tt.toString());
  const missing = c.caps.filter((x) => x.available === false);
  if (missing.length) {
    out.push('', 'Missing, and what it disables:');
    for (const m of missing) out.push(`- ${m.id}: disables ${m.disables}.\n  To get it: ${m.fix}.`);
  }
  const unknown = c.caps.filter((x) => x.available === null);
  if (unknown.length) {
    out.push('', 'Could not be told (the probe failed), and what it would disable:');
    for (const m of unknown) out.push(`- ${m.id}: ${m.detail}; without it: ${m.disables}.`);
  }
  return out.join('\n');
}
