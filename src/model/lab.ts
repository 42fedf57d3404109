import type { HookList } from './hooks.js';

/** 2: the registration claim comes first (five claims, the article's order). */
export const LAB_SCHEMA_VERSION = 2;

export const CLAIM_IDS = ['conntrack-registers-lazily', 'where-conntrack-sits', 'conntrack-saw-the-syn', 'entry-created-and-discarded', 'priority-trick'] as const;
export type ClaimId = (typeof CLAIM_IDS)[number];
export type ClaimStatus = 'confirmed' | 'refuted' | 'not-observable';

export interface Evidence {
  /** hooks | callbacks | call-tree | stack | conntrack | lifetimes | drop | counter */
  kind: string;
  title: string;
  /** The evidence as a person reads it (a table, a tree, a stack). */
  text: string;
  /** A line stating what this evidence shows for the claim. */
  shows: string;
}

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
