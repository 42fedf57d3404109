/**
 * The `nfscope parse KIND --json` reports, one type per kind: each has a JSON
 * Schema of its own (schemas/parse-KIND.schema.json, generated from these
 * types by scripts/gen-schemas.mjs), versioned by PARSE_SCHEMA_VERSION.
 */
import type { CallNode } from './call-tree.js';
import type { FunctionGraphStats } from './graph.js';
import type { HookList } from './hooks.js';
import type { CtEntry } from './conntrack.js';

/** 2: schemaVersion added (format 1 had none). */
export const PARSE_SCHEMA_VERSION = 2;

export interface ParseFunctionGraphReport {
  schemaVersion: number;
  kind: 'function-graph';
  bytes: number;
  /** Call trees merged by path (sum of the roots' counts). */
  roots: number;
  stats: FunctionGraphStats;
  tree: CallNode[];
}

export interface ParseKstackReport {
  schemaVersion: number;
  kind: 'kstack';
  /** Distinct stacks. */
  stacks: number;
  /** Events over all stacks. */
  total: number;
  skippedLines: number;
  maps: string[];
  tree: CallNode[];
}

export interface ParseBpftraceJsonReport {
  schemaVersion: number;
  kind: 'bpftrace-json';
  /** Records by type (printf, map, attached_probes, lost_events, ...). */
  events: Record<string, number>;
  lostEvents: number;
  maps: string[];
  printf: string[];
}

export interface ParseConntrackReport {
  schemaVersion: number;
  kind: 'conntrack';
  flows: CtEntry[];
}

export interface ParseHooksReport {
  schemaVersion: number;
  kind: 'hooks' | 'nft-hooks';
  source: 'nft list hooks' | 'list-nf-hooks' | 'nf_hooks.py';
  hooks: HookList[];
  warnings: string[];
}

export interface ParseTracePreroutingReport {
  schemaVersion: number;
  kind: 'trace-prerouting';
  callbacks: { hook: string; callback: string; owner: string; conntrack: boolean; hits: number }[];
  flows: string[];
  hits: PreroutingHit[];
}

export interface PreroutingHit {
  time: string;
  src: string;
  dst: string;
  callback: string;
}
