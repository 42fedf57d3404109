import { ParseError } from '../lib/errors.js';
import type { LoadedModule } from '../model/module-undo.js';

/**
 * /proc/modules (kernel/module/procfs.c, unchanged 5.10-6.18):
 *   "nf_conntrack 188416 2 xt_conntrack,nf_conntrack_netlink, Live 0xffffffffc0a1b000"
 *   "veth 40960 0 - Live 0x0000000000000000"
 * A line of another shape is an error, not a module silently missing.
 */
export function parseProcModules(text: string): LoadedModule[] {
  const out: LoadedModule[] = [];
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    const m = /^(\S+) \d+ (-?\d+|-) (\S+) (Live|Loading|Unloading)\b/.exec(line);
    if (!m) throw new ParseError('/proc/modules', i + 1, line, 'not a line the kernel writes');
    const usedBy = m[3] === '-' ? [] : m[3]!.split(',').filter(Boolean);
    out.push({ name: m[1]!, refs: m[2] === '-' ? -1 : Number(m[2]), usedBy, state: m[4]! });
  });
  return out;
}
