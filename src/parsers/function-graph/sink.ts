/**
 * What the function_graph lexer (lexer.ts) reports, and to whom: a sink.
 * The lexer owns the depths of the open calls of each task (or CPU); the sink
 * owns what stands for each open call (a tree node, an aggregate node), of
 * the type it chooses. The lexer passes what a sink may need with each event
 * (the task of the line); a sink never calls back into the lexer.
 */

/** Open calls of one task (or CPU): their depths are the lexer's, their frames the sink's. */
export interface OpenCalls<F> {
  depths: number[];
  frames: F[];
  irq: number;
}

/** What a sink learns of the line being parsed: its number, and its task (read when asked: a tree's root). */
export interface LineInfo {
  readonly lineNo: number;
  task(): { cpu: number | null; pid: number | null; comm: string | null };
}

/**
 * `label` is "name" or "name [module]", interned by the lexer (the same string
 * object for the same text). enter/leaf/exit/abandon keep frames in step with depths.
 */
export interface GraphSink<F> {
  enter(st: OpenCalls<F>, label: string, irq: boolean, line: LineInfo): void;
  leaf(st: OpenCalls<F>, label: string, irq: boolean, durationUs: number | null, line: LineInfo): void;
  exit(st: OpenCalls<F>, durationUs: number | null, line: LineInfo): void;
  /** The top call never returned in the trace. */
  abandon(st: OpenCalls<F>, line: LineInfo): void;
}
