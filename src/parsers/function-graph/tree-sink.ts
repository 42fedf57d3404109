import { ParseError } from '../../lib/errors.js';
import { appendChild, newNode, type CallNode, type CallRoot } from '../../model/call-tree.js';
import { LabelCache } from './labels.js';
import type { GraphSink, LineInfo, OpenCalls } from './sink.js';

/** An open call of the tree being built: its node, and the root record when it is the tree's root. */
export interface TreeFrame {
  root: CallRoot | null;
  node: CallNode;
}

/**
 * Builds each call tree and hands it over when its root returns (or the input
 * ends). A tree larger than maxTreeNodes is a ParseError: memory stays bounded.
 */
export class TreeSink implements GraphSink<TreeFrame> {
  private readonly labels = new LabelCache();
  private treeNodes = 0;

  constructor(
    private readonly onRoot: (root: CallRoot) => void,
    private readonly maxTreeNodes = 1_000_000,
  ) {}

  private node(label: string, irq: boolean): CallNode {
    const { fn, module } = this.labels.split(label);
    const n = newNode(fn, module);
    if (irq) n.irq = true;
    return n;
  }

  enter(st: OpenCalls<TreeFrame>, label: string, irq: boolean, line: LineInfo): void {
    const n = this.node(label, irq);
    if (st.frames.length === 0) {
      this.treeNodes = 0;
      st.frames.push({ root: { tree: n, ...line.task() }, node: n });
    } else {
      st.frames.push({ root: null, node: n });
    }
  }

  leaf(st: OpenCalls<TreeFrame>, label: string, irq: boolean, durationUs: number | null, line: LineInfo): void {
    const n = this.node(label, irq);
    n.durationUs = durationUs;
    if (st.frames.length === 0) {
      this.treeNodes = 0;
      this.onRoot({ tree: n, ...line.task() });
    } else {
      this.add(st, n, line.lineNo);
    }
  }

  exit(st: OpenCalls<TreeFrame>, durationUs: number | null, line: LineInfo): void {
    const f = st.frames.pop()!;
    f.node.durationUs = durationUs;
    this.done(st, f, line.lineNo);
  }

  abandon(st: OpenCalls<TreeFrame>, line: LineInfo): void {
    const f = st.frames.pop()!;
    f.node.unfinished = (f.node.unfinished ?? 0) + 1;
    this.done(st, f, line.lineNo);
  }

  private add(st: OpenCalls<TreeFrame>, n: CallNode, lineNo: number): void {
    if (++this.treeNodes > this.maxTreeNodes) {
      throw new ParseError('function_graph trace', lineNo, '', `one call tree holds more than ${this.maxTreeNodes} calls`);
    }
    appendChild(st.frames[st.frames.length - 1]!.node, n);
  }

  private done(st: OpenCalls<TreeFrame>, f: TreeFrame, lineNo: number): void {
    if (f.root) this.onRoot(f.root);
    else this.add(st, f.node, lineNo);
  }
}
