import type { CallNode } from '../model/call-tree.js';

/**
 * An indented call tree:
 *   nf_conntrack_in [nf_conntrack]                 1771.1 us
 *     init_conntrack.constprop.0                    232.9 us
 *   » __nf_conntrack_alloc                          105.2 us
 * `mark` holds the nodes of the path to make stand out (» and the names in
 * bold on a terminal). Repeats show as ×N, unfinished calls as "(no return)".
 */
export interface TreeRenderOptions {
  mark?: Set<CallNode>;
  maxDepth?: number;
  color?: boolean;
  /** For kstack trees: show counts, not durations. */
  counts?: boolean;
}

export function renderCallTree(roots: CallNode[], o: TreeRenderOptions = {}): string {
  const rows: [string, string][] = [];
  const walk = (n: CallNode, depth: number) => {
    const marked = o.mark?.has(n) ?? false;
    let name = `${n.fn}${n.module ? ` [${n.module}]` : ''}${n.count > 1 && !o.counts ? ` ×${n.count}` : ''}${n.irq ? ' (irq)' : ''}`;
    if (marked && o.color) name = `\x1b[1m${name}\x1b[0m`;
    const right = o.counts
      ? `${n.count}`
      : n.durationUs !== null
        ? `${n.durationUs.toFixed(1)} us${n.unfinished ? ` (+${n.unfinished} no return)` : ''}`
        : n.unfinished ? '(no return)' : '';
    rows.push([`${marked ? '» ' : '  '}${'  '.repeat(depth)}${name}`, right]);
    if (o.maxDepth !== undefined && depth >= o.maxDepth) {
      if (n.children.length) rows.push([`  ${'  '.repeat(depth + 1)}… ${n.children.length} call(s) below --max-depth`, '']);
      return;
    }
    for (const c of n.children) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  const width = Math.min(100, Math.max(0, ...rows.map(([l]) => visible(l).length)));
  return rows.map(([l, r]) => (r ? `${l}${' '.repeat(Math.max(1, width - visible(l).length + 2))}${r.padStart(o.counts ? 6 : 12)}` : l)).join('\n');
}

// eslint-disable-next-line no-control-regex
const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
