/**
 * Typed errors. Each carries what a user needs to act; only src/main.ts turns
 * them into an exit code.
 */

/** A command whose own exit code is the answer (vm run -- CMD): no message, just the code. */
export class PassThroughExit extends Error {
  override name = 'PassThroughExit';
  constructor(readonly exitCode: number) {
    super('');
  }
}

/** Bad user input: a one-line message, exit 2, nothing has been changed yet. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

/** A required program is absent on the target. */
export class ToolMissingError extends Error {
  override name = 'ToolMissingError';
  readonly exitCode = 3;
  constructor(
    readonly tool: string,
    readonly pkg: { debian: string; fedora: string },
  ) {
    super(
      `${tool} is not installed: install it with 'apt-get install ${pkg.debian}' (Debian/Ubuntu) ` +
        `or 'dnf install ${pkg.fedora}' (Fedora), or run scripts/setup.sh`,
    );
  }
}

/** nfscope needs root (BPF, netns, firewall, tracefs). */
export class NotRootError extends Error {
  override name = 'NotRootError';
  readonly exitCode = 4;
}

/**
 * The header of the note a kill leaves in a run's stderr: what the process's tasks were doing
 * (targets/task-snapshot.ts, and payload/vm/agent.py, which writes the same words).
 */
export const AT_KILL_TASKS = 'its tasks were (/proc/PID/task/TID):';

/**
 * A failed run's stderr as its message shows it: the last 8 lines, and a kill's snapshot of its
 * tasks whole (its header and indented lines; bounded where it is written), wherever it stands.
 */
export function stderrTail(stderr: string): string[] {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const note = taskNoteSpan(lines);
  if (!note) return lines.slice(-8);
  return [...lines.slice(0, note.at).slice(-8), ...lines.slice(note.at, note.end), ...lines.slice(note.end).slice(-8)];
}

/** Where a kill's note of its tasks stands among stderr lines: its header at `at`, its indented body up to `end`. */
export function taskNoteSpan(lines: readonly string[]): { at: number; end: number } | null {
  const at = lines.findIndex((l) => l.endsWith(AT_KILL_TASKS));
  if (at < 0) return null;
  let end = at + 1;
  while (end < lines.length && lines[end]!.startsWith('  ')) end++;
  return { at, end };
}

/** An external command failed: shows the argv, exit code and stderr tail. */
export class CommandFailedError extends Error {
  override name = 'CommandFailedError';
  readonly exitCode = 5;
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
    hint?: string,
  ) {
    const tail = stderrTail(stderr).join('\n  ');
    super(
      `command failed (exit ${code ?? 'signal'}): ${showCommand(argv)}` +
        (tail ? `\n  ${tail}` : '') +
        (hint ? `\n${hint}` : ''),
    );
  }
}

/** A parser met input it cannot read: names the line and shows it. */
export class ParseError extends Error {
  override name = 'ParseError';
  readonly exitCode = 6;
  constructor(
    readonly what: string,
    readonly line: number,
    readonly excerpt: string,
    detail: string,
  ) {
    super(`${what}: line ${line}: ${detail}: ${JSON.stringify(excerpt.slice(0, 120))}`);
  }
}

/** A capability the target lacks, for a backend or an observation. */
export class CapabilityError extends Error {
  override name = 'CapabilityError';
  readonly exitCode = 7;
}

/** Shows an argv as a copy-pasteable command line. Display only: never executed. */
export function showCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * POSIX single-quote quoting. Used to *show* commands and by remote transports
 * that must build shell text; nothing local runs a shell.
 */
export function shellQuote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
