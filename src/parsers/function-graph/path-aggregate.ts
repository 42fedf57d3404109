import { newNode, type CallNode } from '../../model/call-tree.js';
import { LabelCache } from './labels.js';
import type { GraphSink, OpenCalls } from './sink.js';

/** An aggregate node: a plain class with a fixed shape (a symbol or a WeakMap per node cost 25% of the parse). */
export class AggNode {
  count = 0;
  durationUs: number | null = null;
  unfinished = 0;
  readonly kids = new Map<string, AggNode>();
  readonly order: AggNode[] = [];
  constructor(readonly label: string, readonly irq: boolean) {}

  toCallNode(labels: LabelCache): CallNode {
    const { fn, module } = labels.split(this.label);
    const n = newNode(fn, module);
    n.count = this.count;
    n.durationUs = this.durationUs;
    if (this.unfinished) n.unfinished = this.unfinished;
    if (this.irq) n.irq = true;
    n.children = this.order.map((c) => c.toCallNode(labels));
    return n;
  }
}

/**
 * Merges calls by path as they stream by, with no node per call: each open
 * call is a pointer into the aggregate. Memory is the distinct call paths
 * (bounded by maxPaths), whatever the trace's length.
 */
export class PathAggregate implements GraphSink<AggNode> {
  private readonly top = new AggNode('', false);
  private paths = 0;
  constructor(private readonly maxPaths = 1_000_000) {}

  get size(): number {
    return this.paths;
  }

  /** The aggregate as call trees, first-seen order at every level. */
  get roots(): CallNode[] {
    const labels = new LabelCache();
    return this.top.order.map((c) => c.toCallNode(labels));
  }

  private child(st: OpenCalls<AggNode>, label: string, irq: boolean): AggNode {
    const parent = st.frames.length ? st.frames[st.frames.length - 1]! : this.top;
    const key = irq ? label + ' (irq)' : label;
    let n = parent.kids.get(key);
    if (n === undefined) {
      if (++this.paths > this.maxPaths) throw new RangeError(`more than ${this.maxPaths} distinct call paths`);
      n = new AggNode(label, irq);
      parent.kids.set(key, n);
      parent.order.push(n);
    }
    n.count++;
    return n;
  }

  enter(st: OpenCalls<AggNode>, label: string, irq: boolean): void {
    st.frames.push(this.child(st, label, irq));
  }

  leaf(st: OpenCalls<AggNode>, label: string, irq: boolean, durationUs: number | null): void {
    const n = this.child(st, label, irq);
    if (durationUs !== null) n.durationUs = (n.durationUs ?? 0) + durationUs;
  }

  exit(st: OpenCalls<AggNode>, durationUs: number | null): void {
    const n = st.frames.pop()!;
    if (durationUs !== null) n.durationUs = (n.durationUs ?? 0) + durationUs;
  }

  abandon(st: OpenCalls<AggNode>): void {
    st.frames.pop()!.unfinished++;
  }
}
