/**
 * A reference for the tests: merge built call trees by name at every level,
 * the plain way (an object per call). The streaming PathAggregate in
 * src/parsers/function-graph.ts must give the same result without one.
 */
import type { CallNode } from '../../src/model/call-tree.js';

export function countNodes(n: CallNode): number {
  let s = 1;
  for (const c of n.children) s += countNodes(c);
  return s;
}

/**
 * Merges trees by name at every level (not by position): the aggregate of a
 * long trace, bounded by the number of distinct call paths.
 */
export class CallAggregate {
  readonly roots: CallNode[] = [];
  private nodes = 0;
  constructor(private readonly maxNodes = 1_000_000) {}

  add(tree: CallNode): void {
    this.mergeInto(this.roots, tree);
  }

  get size(): number {
    return this.nodes;
  }

  private mergeInto(siblings: CallNode[], n: CallNode): void {
    let into = siblings.find((s) => s.fn === n.fn && s.module === n.module && s.irq === n.irq);
    if (!into) {
      if (++this.nodes > this.maxNodes) throw new RangeError(`more than ${this.maxNodes} distinct call paths`);
      into = { ...n, count: 0, durationUs: null, children: [] };
      delete into.unfinished;
      siblings.push(into);
    }
    into.count += n.count;
    if (n.durationUs !== null) into.durationUs = (into.durationUs ?? 0) + n.durationUs;
    if (n.unfinished) into.unfinished = (into.unfinished ?? 0) + n.unfinished;
    for (const c of n.children) this.mergeInto(into.children, c);
  }
}

/**
 * A function_graph capture's call lines (an entry `{`, a leaf `;`, a return `}`) and the CPUs they
 * ran on, counted from the text without the parser.
 */
export function traceLineFacts(trace: string): { records: number; cpus: number[] } {
  const lines = trace.split('\n');
  const records = lines.filter((l) => /^\s*\d+\)\s.*\|\s+\S.*(;|\{|\})\s*$/.test(l)).length;
  const cpus = [...new Set(lines.map((l) => /^\s*(\d+)\)\s/.exec(l)?.[1]).filter((c) => c !== undefined).map(Number))].sort((a, b) => a - b);
  return { records, cpus };
}
