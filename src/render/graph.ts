import { findPath } from '../model/call-tree.js';
import { ALLOC_PATH, type GraphReport } from '../model/graph.js';
import { renderCallTree } from './call-tree.js';

export function renderGraph(r: GraphReport, o: { maxDepth?: number; color?: boolean } = {}): string {
  const out: string[] = [];
  out.push(`nfscope graph: a SYN to port ${r.port} (${r.family}, dropped by ${r.firewall}) on ${r.kernel} (${r.target})`);
  out.push('');
  if (r.tracer) {
    out.push(`function_graph call trees rooted at ${r.roots.join(', ')}`);
    out.push(`  (${r.tracer.instance ? 'an ftrace instance' : 'the global tracer, locked'}; ${r.tracer.filterFunctions} filter entries; only the sender's task and its CPU's ksoftirqd)`);
    if (r.callTrees.length === 0) out.push('  none: no root function ran in the sender\'s context nor in its CPU\'s ksoftirqd');
    const trees = r.callTrees.map((t) => t.tree);
    const path = findPath(trees, ALLOC_PATH);
    out.push(renderCallTree(trees, { mark: new Set(path ?? []), maxDepth: o.maxDepth, color: o.color }).replace(/^/gm, '  '));
    out.push('');
    out.push(path
      ? `» ${path.map((n) => n.fn).join(' → ')}: the conntrack entry for the SYN is allocated here, unconfirmed.`
      : `${ALLOC_PATH.join(' → ')} not found in the trees.`);
    if (r.stats) {
      const s = r.stats;
      const notes = [
        s.lostEvents ? `${s.lostEvents} lost events` : '',
        s.unfinished ? `${s.unfinished} calls without a return` : '',
        s.orphanReturns ? `${s.orphanReturns} returns without a call` : '',
      ].filter(Boolean);
      out.push(`  trace: ${s.records} records on CPU(s) ${s.cpus.join(',') || '?'}${notes.length ? `; ${notes.join(', ')}` : ''}`);
    }
    out.push('');
  }
  if (r.dropStacks) {
    out.push(`kernel stacks of the drop (skb:kfree_skb), ${r.dropStacks.total} drop(s), outermost frame first:`);
    out.push(renderCallTree(r.dropStacks.tree, { counts: true }).replace(/^/gm, '  '));
    out.push('');
  }
  for (const u of r.unavailable) out.push(`not observed: ${u.observation}: ${u.reason}`);
  return out.join('\n').trimEnd();
}
