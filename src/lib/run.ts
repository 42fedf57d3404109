import { CommandFailedError } from './errors.js';
import { GREP_ANSWERS, runResult, type RunResult } from './run-result.js';
import type { ExecOptions, Host, RawRun } from './target.js';

/** What a run needs of a target: its exec (any Target, or the host vm/ is handed). */
type Target = Pick<Host, 'exec'>;

export { GREP_ANSWERS };

/** The bound every run gets when its caller names none: no wait is unbounded. */
export const DEFAULT_RUN_TIMEOUT_MS = 30_000;

/** Runs argv on the target; a non-zero exit becomes a CommandFailedError with argv and stderr. */
export async function run(target: Target, argv: string[], opts?: ExecOptions & { hint?: string }): Promise<RawRun> {
  const r = await target.exec(argv, { timeoutMs: DEFAULT_RUN_TIMEOUT_MS, ...opts });
  if (r.exitCode !== 0 || r.timedOut) throw new CommandFailedError(argv, r.exitCode, r.stderr + (r.timedOut ? '\n(timed out)' : ''), opts?.hint);
  return r;
}

/**
 * Runs argv on the target and sorts the result (lib/run-result.ts): where a failure is itself
 * something to report (*not observable, because …*) rather than an error that ends the run.
 * `okExit`: the exit codes that are answers (grep: [0, 1]).
 */
export async function tryRun(target: Target, argv: string[], opts?: ExecOptions & { okExit?: readonly number[] }): Promise<RunResult> {
  const { okExit, ...o } = opts ?? {};
  return runResult(await target.exec(argv, { timeoutMs: DEFAULT_RUN_TIMEOUT_MS, ...o }), okExit);
}
