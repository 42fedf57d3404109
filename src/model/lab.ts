import type { HookList } from './hooks.js';
import type { CallNode } from './call-tree.js';
import type { LifetimesReport } from './lifetimes.js';
import type { CallbackHit, TraceSynReport } from './trace-syn.js';
import type { RegistrationObservation } from './registration.js';

/**
 * 2: the registration claim comes first (five claims, the article's order).
 * 3: evidence is data (hook lists, callbacks, trees, frames), not rendered text.
 */
export const LAB_SCHEMA_VERSION = 4;

export const CLAIM_IDS = ['conntrack-registers-lazily', 'where-conntrack-sits', 'conntrack-saw-the-syn', 'entry-created-and-discarded', 'priority-trick'] as const;
export type ClaimId = (typeof CLAIM_IDS)[number];
export type ClaimStatus = 'confirmed' | 'refuted' | 'not-observable';

/**
 * What a claim rests on, as data: render/lab.ts makes the tables, trees and
 * stacks a person reads (text, Markdown, HTML) from it.
 */
export type Evidence = { title: string; /** A line stating what this evidence shows for the claim. */ shows: string } & (
  | { kind: 'hooks'; hooks: HookList[] }
  | { kind: 'callbacks'; callbacks: CallbackHit[] }
  /** function_graph trees; `mark` is the path the claim is about (function names, outermost first). */
  | { kind: 'call-tree'; trees: CallNode[]; mark: string[]; maxDepth: number }
  /** A kernel stack, innermost frame first, as bpftrace printed it. */
  | { kind: 'drop' | 'stack'; frames: string[] }
  /** Lines as a tool printed them (conntrack -L, a rule counter). */
  | { kind: 'conntrack' | 'counter'; lines: string[] }
  | { kind: 'lifetimes'; lifetimes: LifetimesReport }
);

export interface Claim {
  id: ClaimId;
  claim: string;
  status: ClaimStatus;
  evidence: Evidence[];
  reason?: string;
  /** Commands a student can run by hand to see the same (--explain). */
  commands: string[];
}

export interface LabReport {
  schemaVersion: number;
  kernel: string;
  target: string;
  port: number;
  claims: Claim[];
  /** For the drawing: the server netns hooks and where the SYN died. */
  pipeline: { hooks: HookList[]; dropAt: { hook: string | null; priority: number | null; callback: string | null } | null };
}

/** What the lab observed, step by step: the judges' whole input (captured as a fixture). */
export interface LabInputs {
  port: number;
  registration: RegistrationObservation;
  plain: TraceSynReport;
  life: LifetimesReport | null;
  lifeWhy: string | null;
  trick: TraceSynReport;
}
