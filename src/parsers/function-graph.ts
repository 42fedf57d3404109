/**
 * The function_graph parser (nfscope parse function-graph, nfscope graph), in
 * four parts over one typed sink interface:
 * - function-graph/lexer.ts: bytes in, call events out (both layouts: tracefs
 *   `trace` and trace-cmd report), per task or CPU, with the stats;
 * - function-graph/sink.ts: what a sink receives (GraphSink<F>, F its frames);
 * - function-graph/tree-sink.ts: builds each call tree (bounded per tree);
 * - function-graph/path-aggregate.ts: merges calls by path as they stream by.
 */
import type { CallRoot } from '../model/call-tree.js';
import type { FunctionGraphStats } from '../model/graph.js';
import { FunctionGraphParser, type FunctionGraphOptions } from './function-graph/lexer.js';

export type { FunctionGraphStats } from '../model/graph.js';
export { FunctionGraphParser, type FunctionGraphOptions } from './function-graph/lexer.js';
export type { GraphSink, LineInfo, OpenCalls } from './function-graph/sink.js';
export { TreeSink, type TreeFrame } from './function-graph/tree-sink.js';
export { PathAggregate } from './function-graph/path-aggregate.js';
export { LabelCache } from './function-graph/labels.js';

/** Parses a whole function_graph text at once (small inputs: fixtures, live captures). */
export function parseFunctionGraph(text: string | Buffer, opts?: FunctionGraphOptions): { roots: CallRoot[]; stats: FunctionGraphStats } {
  const roots: CallRoot[] = [];
  const p = new FunctionGraphParser((r) => roots.push(r), opts);
  p.push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  return { roots, stats: p.end() };
}
