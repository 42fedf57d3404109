/**
 * A run whose failure ends what the caller was doing (nothing can be judged without its
 * output). A CommandFailedError, so that whoever turns those into a claim's reason does the same
 * with it; its message's first line is the caller's context and the run's reason (argv, exit
 * status or timeout, stderr excerpt), which is what a report quoting the first line shows.
 */
import { CommandFailedError } from './errors.js';
import type { RunFailure } from './run-result.js';

export class RunFailedError extends CommandFailedError {
  override name = 'RunFailedError';
  constructor(readonly failure: RunFailure, reason: string, context: string) {
    super(failure.argv, failure.exitCode, failure.stderr);
    this.message = `${context}: ${reason}`;
  }
}
