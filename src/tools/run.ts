import { CommandFailedError } from '../lib/errors.js';
import type { ExecOptions, RawRun, Target } from '../targets/target.js';

/** Runs argv on the target; a non-zero exit becomes a CommandFailedError with argv and stderr. */
export async function run(target: Target, argv: string[], opts?: ExecOptions & { hint?: string }): Promise<RawRun> {
  const r = await target.exec(argv, { timeoutMs: 30_000, ...opts });
  if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr + (r.timedOut ? '\n(timed out)' : ''), opts?.hint);
  return r;
}
