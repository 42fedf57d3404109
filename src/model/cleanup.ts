// `nfscope cleanup`'s findings: each journal a killed run left, and what became of each change in it.
// (Line comments: a doc comment here would become the first type's description in the schema.)

// Action and Result stay unexported: the schema generator makes every exported type a definition
// of its own, and schemas/cleanup.schema.json has them inline. Name them by UndoAction, UndoResult.
type Result = `refused: ${string}` | 'undone' | 'already gone' | 'killed' | 'not running' | 'skipped (in use by a live run)' | 'skipped (in another netns)' | 'not ours any more' | 'would undo' | `failed: ${string}`;
/** argv: each command the change's undo runs (or `kill PID (COMM)`), shown by --dry-run and --json. */
interface Action { what: string; argv: string[][]; result: Result }
export interface JournalReport { untrusted?: string; journal: string; pid: number; started: string; argv: string[]; target: string; actions: Action[]; note?: string }

/** What was (or, --dry-run, would be) done with one journaled change. */
export type UndoAction = Action;
/** What became of one journaled change. */
export type UndoResult = Result;

export const CLEANUP_SCHEMA_VERSION = 1;

/** `nfscope cleanup --json`: each journal found, and what was done (or, --dry-run, would be). */
export interface CleanupReport {
  schemaVersion: number;
  journals: JournalReport[];
}
