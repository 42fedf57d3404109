/**
 * A run whose failure ends what the caller was doing (nothing can be judged without its
 * output): the message's first line is the caller's context and the run's reason (argv, exit
 * status or timeout, stderr excerpt), which is what a report quoting the first line shows.
 */
import type { RunFailure } from './run-result.js';

export class RunFailedError extends Error {
  override name = 'RunFailedError';
  /** Exit status of nfscope, as CommandFailedError's. */
  readonly exitCode = 5;
  constructor(readonly failure: RunFailure, reason: string, context: string) {
    super(`${context}: ${reason}`);
  }
}
