import type { HookDiff, HooksLintReport } from './hooks-lint.js';
import type { Backend } from './hooks.js';

export const HOOKS_FLEET_SCHEMA_VERSION = 1;

/**
 * One target of a fleet run. `ok`: it answered, and its lint and diff are here. `failed`: it could
 * not be reached or its listing failed (`reason` says which, from the error itself). `timed out`:
 * the per-target deadline passed first; what it was doing was stopped with its session.
 */
export interface FleetTarget {
  target: string;
  status: 'ok' | 'failed' | 'timed out';
  reason?: string;
  durationMs: number;
  kernel?: string;
  /** Which backend listed it (`hooks --backend auto` picks per target). */
  backend?: Backend;
  lint?: HooksLintReport;
  /** Against the baseline, hook by hook; empty when the same. Absent for the baseline target itself. */
  diff?: HookDiff[];
  /** How the diff was made where it is not entry for entry (as `hooks --diff` says it). */
  diffNotes?: string[];
}

/** `nfscope hooks --target A --target B …`: each target listed and linted, and each against the baseline. */
export interface HooksFleetReport {
  schemaVersion: number;
  /**
   * What each target is compared with: a saved `hooks --json` file (--baseline), else the first
   * target that answered (`why` says when that is not the first given); null when none answered.
   */
  baseline: { source: string | null; kernel: string | null; why?: string };
  netns: string;
  parallel: number;
  deadlineS: number;
  /** Wall time of the whole run. */
  durationMs: number;
  targets: FleetTarget[];
}
