import { baseSymbol } from './owners.js';

/**
 * One function in a call tree (function_graph) or one frame of an
 * aggregated kernel stack (kstack). `count` calls or stacks are merged into
 * one node; `durationUs` is their total, null when unknown (kstack) or when
 * no merged call was seen to return.
 */
export interface CallNode {
  fn: string;
  module?: string;
  count: number;
  durationUs: number | null;
  /** Calls that never returned in the trace (tracing stopped, lost events). */
  unfinished?: number;
  /** Ran in interrupt context (between function_graph's ==========> and <==========). */
  irq?: boolean;
  children: CallNode[];
}

export interface CallRoot {
  tree: CallNode;
  cpu: number | null;
  pid: number | null;
  comm: string | null;
}

export function newNode(fn: string, module?: string): CallNode {
  return module ? { fn, module, count: 1, durationUs: null, children: [] } : { fn, count: 1, durationUs: null, children: [] };
}

function sameShape(a: CallNode, b: CallNode): boolean {
  if (a.fn !== b.fn || a.module !== b.module || a.irq !== b.irq || a.children.length !== b.children.length) return false;
  for (let i = 0; i < a.children.length; i++) if (!sameShape(a.children[i]!, b.children[i]!)) return false;
  return true;
}

/** Adds b's counts and durations into a, which has the same shape. */
function mergeSame(a: CallNode, b: CallNode): void {
  a.count += b.count;
  if (b.durationUs !== null) a.durationUs = (a.durationUs ?? 0) + b.durationUs;
  if (b.unfinished) a.unfinished = (a.unfinished ?? 0) + b.unfinished;
  for (let i = 0; i < a.children.length; i++) mergeSame(a.children[i]!, b.children[i]!);
}

/**
 * Appends a finished child, collapsing repeats: a call whose whole subtree
 * has the same shape as the previous sibling's is counted into it
 * (`_raw_spin_lock ×3`), so a loop does not print a hundred lines.
 */
export function appendChild(parent: CallNode, child: CallNode): void {
  const last = parent.children[parent.children.length - 1];
  if (last && sameShape(last, child)) mergeSame(last, child);
  else parent.children.push(child);
}

/**
 * The first chain of nodes, depth first, whose base names (compiler clone
 * suffixes like ".constprop.0" ignored) follow `path` in order, each below
 * the previous one (not necessarily its direct child: a filtered trace hides
 * the functions in between).
 */
export function findPath(roots: CallNode[], path: string[]): CallNode[] | null {
  if (path.length === 0) return [];
  const [head, ...rest] = path;
  for (const r of roots) {
    const hit = findBelow(r, head!);
    for (const h of hit) {
      const tail = findPath(h.children, rest);
      if (tail) return [h, ...tail];
    }
  }
  return null;
}

function findBelow(n: CallNode, name: string, out: CallNode[] = []): CallNode[] {
  if (baseSymbol(n.fn) === name) out.push(n);
  for (const c of n.children) findBelow(c, name, out);
  return out;
}
