import type { CallNode, CallRoot } from './call-tree.js';

export const GRAPH_SCHEMA_VERSION = 1;

/** The path issue 5 asks to stand out: where the unconfirmed entry is born. */
export const ALLOC_PATH = ['nf_conntrack_in', 'init_conntrack', '__nf_conntrack_alloc'];

/** What function_graph showed around one packet: the part of GraphReport trace-syn carries too. */
export interface CallGraphObservation {
  roots: string[];
  tracer: { instance: boolean; filterFunctions: number; pidFiltered: boolean };
  callTrees: CallRoot[];
  /** ALLOC_PATH as found in the trees (names as the kernel printed them), or null. */
  allocPath: string[] | null;
  stats: FunctionGraphStats;
}

export interface GraphReport {
  schemaVersion: number;
  kernel: string;
  target: string;
  family: string;
  port: number;
  firewall: string;
  /** Functions the call trees are rooted at (from the hook listing and the skb free path). */
  roots: string[];
  /** How the function_graph session ran: an ftrace instance or the (locked) global tracer. */
  tracer: { instance: boolean; filterFunctions: number; pidFiltered: boolean } | null;
  callTrees: CallRoot[];
  /** ALLOC_PATH as found in the trees (names as the kernel printed them), or null. */
  allocPath: string[] | null;
  stats: FunctionGraphStats | null;
  /** Kernel stacks of the SYN's drops (skb:kfree_skb), merged from the outermost frame. */
  dropStacks: { total: number; tree: CallNode[] } | null;
  unavailable: { observation: string; reason: string }[];
}

/** What the function_graph parser counted (parsers/function-graph.ts fills it). */
export interface FunctionGraphStats {
  lines: number;
  records: number;
  lostEvents: number;
  irqEntries: number;
  taskSwitches: number;
  /** Returns whose call is before the start of the trace. */
  orphanReturns: number;
  /** Calls still open at the end of the input or closed by a shallower line. */
  unfinished: number;
  cpus: number[];
  tracer: string | null;
}
