/**
 * A tool run's result as a sum type: output a parser may read, or a failure
 * that carries argv, exit status and stderr to the report. A caller cannot
 * read a failed run as empty output: `stdout` exists only on the ok branch.
 */
import { showCommand, taskNoteSpan } from './errors.js';
import type { RawRun } from './target.js';

/** Lines without the indented body of a kill's note of its tasks (its header stays). */
function withoutTaskLines(lines: string[]): string[] {
  const note = taskNoteSpan(lines);
  return note ? [...lines.slice(0, note.at + 1), ...lines.slice(note.end)] : lines;
}

export interface RunFailure {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly signal?: string | undefined;
  readonly timedOut: boolean;
  readonly stderr: string;
  readonly durationMs: number;
}

export type RunResult =
  | { readonly ok: true; readonly stdout: string; readonly run: RawRun }
  | { readonly ok: false; readonly failure: RunFailure; /** One line a report can print: argv, status, stderr excerpt. */ readonly reason: string };

/**
 * Sorts a run: `okExit` lists the exit codes that mean "ran and answered" (grep's 1, "no line
 * matched", is an answer; its 2 is not). A timeout or a signal is a failure whatever the code.
 */
/** grep's exit codes that are answers: 0 lines matched, 1 none did (2 is an error). */
export const GREP_ANSWERS: readonly number[] = [0, 1];

export function runResult(r: RawRun, okExit: readonly number[] = [0]): RunResult {
  if (!r.timedOut && !r.signal && r.exitCode !== null && okExit.includes(r.exitCode)) return { ok: true, stdout: r.stdout, run: r };
  const failure: RunFailure = { argv: r.argv, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stderr: r.stderr, durationMs: r.durationMs };
  return { ok: false, failure, reason: failureReason(failure) };
}

/**
 * The last stderr lines that say something, on one line, cut to a readable length. A kill's note
 * of its tasks (lib/errors.ts AT_KILL_TASKS) counts as its header line: its stacks are for the
 * failure's message (stderrTail), not for a one-line reason.
 */
export function stderrExcerpt(stderr: string, lines = 3): string {
  const kept = withoutTaskLines(stderr.split('\n'));
  const t = kept.map((l) => l.trim()).filter(Boolean).slice(-lines).join(' | ');
  return t.length > 300 ? `${t.slice(0, 297)}...` : t;
}

/** "`argv` exited 2: <stderr>", "`argv` timed out after 30 s", "`argv` was killed by SIGKILL: …". */
export function failureReason(f: RunFailure): string {
  const cmd = `\`${showCommand(f.argv)}\``;
  const err = stderrExcerpt(f.stderr);
  const how = f.timedOut
    ? `timed out after ${Math.round(f.durationMs / 100) / 10} s`
    : f.signal === 'VMGONE'
      ? 'did not finish: the target went away'
      : f.signal
        ? `was killed by ${f.signal.startsWith('SIG') ? f.signal : `SIG${f.signal}`}`
        : `exited ${f.exitCode ?? '?'}`;
  return `${cmd} ${how}${err ? `: ${err}` : ''}`;
}
