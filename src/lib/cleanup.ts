/**
 * The undo stack. Every state change registers its undo *before* it is made;
 * undo runs in reverse order on success, error, SIGINT/SIGTERM/SIGHUP, a closed
 * stdout and an uncaught error (installSignalHandlers). Undos that
 * are commands on the target are also written to the run's journal (see
 * journal.ts), so that `nfscope cleanup` can run them after a SIGKILL.
 */
import { CommandFailedError } from './errors.js';
import { Journal, type UndoCommand } from './journal.js';
/**
 * What undoing needs of a target: run argv, read a file. targets/ implement it
 * (structurally); lib/ stays below targets/ (the layers test).
 */
export interface UndoTarget {
  readonly journalSpec?: string;
  exec(argv: string[], opts?: { input?: string }): Promise<{ exitCode: number | null; stderr: string }>;
  readFile(path: string): Promise<string | null>;
}

type Undo = { what: string; run: () => Promise<void>; seq: number | null };

/** A registered undo, to take back with Cleanup.withdraw when its change was never made. */
export interface Withdrawable { readonly undo: Undo }

/**
 * How long undoing may take in all (issue 26: teardown against a hung guest had no end). Past it,
 * what is left is said and left in the journal. NFSCOPE_TEARDOWN_DEADLINE_MS: tests only.
 */
export const TEARDOWN_DEADLINE_MS = Number(process.env.NFSCOPE_TEARDOWN_DEADLINE_MS) > 0 ? Number(process.env.NFSCOPE_TEARDOWN_DEADLINE_MS) : 60_000;

/** An undo's ifFileEquals precondition: the file still holds what the run wrote. */
export async function undoStillOurs(target: UndoTarget, c: UndoCommand): Promise<boolean> {
  return !c.ifFileEquals || (await target.readFile(c.ifFileEquals.path))?.trim() === c.ifFileEquals.content.trim();
}

/**
 * Runs one journaled undo command on the target: the in-process undo and
 * `nfscope cleanup`'s replay both go through here. 'not ours' when its
 * ifFileEquals precondition fails (a lock taken over by another run).
 */
export async function runUndoCommand(target: UndoTarget, c: UndoCommand): Promise<'not ours' | { exitCode: number | null; stderr: string }> {
  if (!(await undoStillOurs(target, c))) return 'not ours';
  const r = await target.exec(c.argv, c.input !== undefined ? { input: c.input } : {});
  return { exitCode: r.exitCode, stderr: r.stderr };
}

/**
 * A change registered after its run's undo stack was run (a step still going when a signal's
 * teardown ended): it is refused, so the step stops before making it. Accepted, it would never be
 * undone (the stack has run) and its journal entry would outlive the run.
 */
export class RunEndedError extends Error {
  constructor(what: string) {
    super(`${what}: not done, the run was already torn down`);
    this.name = 'RunEndedError';
  }
}

export class Cleanup {
  private stack: Undo[] = [];
  private running: Promise<string[]> | null = null;
  /** Set when runAll has emptied the stack (or given up at its deadline): nothing may be registered after. */
  private ended = false;
  /** What the run observed so far, printed if a signal cuts it short. */
  readonly observed: string[] = [];
  /** Changes being made (their commands still running): undoing waits for them, see making(). */
  private changing = new Set<Promise<unknown>>();

  constructor(readonly journal: Journal | null = null) {}

  /**
   * Registers an undo. Call it before making the change it reverts. Once the run's undoing has
   * begun it throws RunEndedError, and the caller never makes the change.
   */
  push(what: string, run: () => Promise<void>, journal?: { undo: UndoCommand[] } | { kill: { pid: number; comm: string } }): void {
    // Refused once undoing has begun, not only once it ended: its change would be refused too
    // (making), and an undo of a change never made fails (ip netns del of a netns never added).
    if (this.ended || this.running !== null) throw new RunEndedError(what);
    const seq = journal && this.journal ? this.journal.record(what, journal) : null;
    this.stack.push({ what, run, seq });
  }

  /**
   * Registers the undo of a change already made: a process, whose pid exists only once it is
   * started. Once the run's undoing has begun the process is stopped at once (journaled only if that
   * fails, for `nfscope cleanup`), and RunEndedError is thrown.
   */
  async adopt(what: string, run: () => Promise<void>, journal?: { kill: { pid: number; comm: string } }): Promise<void> {
    if (!this.ended && this.running === null) return this.push(what, run, journal);
    try {
      await run();
    } catch (err) {
      if (journal && this.journal) this.journal.record(what, journal);
      throw new RunEndedError(`${what} (and stopping it failed: ${(err as Error).message.split('\n')[0]})`);
    }
    throw new RunEndedError(what);
  }

  /**
   * Registers an undo made of commands on the target (journaled). `tolerate`:
   * a failure means the thing is gone already (a link taken by its netns).
   */
  undoWith(what: string, target: UndoTarget, cmds: UndoCommand[], tolerate = false): Withdrawable {
    return this.pushed(what, async () => {
      for (const c of cmds) {
        const r = await runUndoCommand(target, c);
        if (r !== 'not ours' && r.exitCode !== 0 && !tolerate) throw new CommandFailedError(c.argv, r.exitCode, r.stderr);
      }
    }, { undo: cmds });
  }

  /** push(), with a handle for withdraw(). */
  private pushed(what: string, run: () => Promise<void>, journal: { undo: UndoCommand[] }): Withdrawable {
    this.push(what, run, journal);
    return { undo: this.stack[this.stack.length - 1]! };
  }

  /**
   * Takes back an undo whose change was never made, because the command that makes it failed
   * before it changed anything (`mkdir` of a name already there: what is there is not this run's,
   * and its undo would remove it). Its journal entry is marked done. Also while undoing: runAll
   * takes the stack's entries one by one, so one still on it has not run (a signal during the
   * mkdir: its failure is seen before teardown reaches its undo).
   */
  withdraw(h: Withdrawable): void {
    const i = this.stack.indexOf(h.undo);
    if (i < 0) return;
    this.stack.splice(i, 1);
    if (h.undo.seq !== null) this.journal?.done(h.undo.seq);
  }

  /**
   * Makes a change whose undo is registered already. A signal's teardown runs while the run's steps
   * still await their commands, which run in their own process groups and go on: an undo run before
   * its change finished found nothing to undo, and the change landed after it (a SIGHUP 428 ms into
   * trace-syn undid tracefs before its `mount` ended, and the mount stayed: the fault test, CI,
   * stop 37). So undoing waits for every change in flight (within the teardown's deadline), and
   * once undoing has begun a change is refused (RunEndedError) before it starts: a step that was in
   * another await when the signal came makes no change after its undo.
   */
  making<T>(what: string, start: () => Promise<T>): Promise<T> {
    // Once undoing has begun, a change is refused before it starts: it would land after its undo.
    if (this.running !== null || this.ended) return Promise.reject(new RunEndedError(what));
    const change = start();
    this.changing.add(change);
    const settled = () => void this.changing.delete(change);
    change.then(settled, settled);
    return change;
  }

  /** Every change being made has settled, whichever way (the undo reads the state it left). */
  private async changesSettled(): Promise<void> {
    while (this.changing.size > 0) await Promise.allSettled([...this.changing]);
  }

  /** Notes an observation, shown if the run is interrupted before its report. */
  note(line: string): void {
    this.observed.push(line);
  }

  /**
   * Runs every undo once, newest first; returns the failures (never throws). A step still going
   * when a signal came can register nothing more (push and making refuse), after waiting for the
   * changes it has in flight. Past the
   * deadline (a hung guest, a command that never returns) it stops: what was not undone is
   * returned as failures, each saying so, and the journal is kept for `nfscope cleanup`.
   */
  runAll(deadlineMs: number = TEARDOWN_DEADLINE_MS): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      let inFlight: Undo | null = null;
      let expired = false;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'expired'>((res) => {
        timer = setTimeout(() => res('expired'), deadlineMs);
      });
      const loop = (async () => {
        while (!expired) {
          // The changes in flight when undoing began (none can begin after: making refuses).
          await this.changesSettled();
          if (this.stack.length === 0 || expired) break;
          const u = this.stack.pop()!;
          inFlight = u;
          try {
            await u.run();
            if (u.seq !== null) this.journal?.done(u.seq);
          } catch (err) {
            if (!expired) failures.push(`${u.what}: ${(err as Error).message.split('\n')[0]}`);
          }
          inFlight = null;
        }
        // In the same synchronous step as the last pop: no registration slips in between.
        if (!expired) this.ended = true;
      })();
      if ((await Promise.race([loop.then(() => 'done' as const), deadline])) === 'expired') {
        expired = true;
        this.ended = true;
        // Left as they are: the journal still lists them (nothing marked done), for `nfscope cleanup`.
        const left = [...(inFlight ? [inFlight as Undo] : []), ...this.stack.splice(0).reverse()];
        for (const u of left) failures.push(`${u.what}: not undone, teardown deadline of ${deadlineMs >= 1000 ? `${Math.round(deadlineMs / 1000)} s` : `${deadlineMs} ms`} passed${u === inFlight ? ' while it ran' : ''}`);
      }
      clearTimeout(timer);
      // All undone: the journal goes; else it stays for `nfscope cleanup`.
      if (failures.length === 0) this.journal?.close();
      else this.journal?.keep();
      this.running = null;
      return failures;
    })();
    return this.running;
  }

  get size(): number {
    return this.stack.length;
  }
}

/** Cleanups of the runs in progress, outermost first: a signal undoes them innermost first. */
const active: Cleanup[] = [];
let tearingDown = false;

/** A signal's (or a closed stdout's, an internal error's) teardown has begun: the process ends with it. */
export function isTearingDown(): boolean {
  return tearingDown;
}

let installed = false;

/** 128 + signo: the exit code a shell reports for a process a signal ended. */
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 };

/**
 * Every way a run can end undoes its changes first:
 * - SIGINT, SIGTERM, SIGHUP (a closed terminal) → undo, exit 128+signo;
 * - stdout's reader gone (`nfscope … | head -1`: EPIPE) → output stops, undo, exit 141;
 *   stderr's reader gone → stderr goes quiet, the run goes on;
 * - an uncaught exception or unhandled rejection → undo, exit 1.
 * Installed once at start (run.ts) and for good: a signal before any change
 * still exits with the conventional code and a message.
 */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      // The first Ctrl-C of a command that ends on it (follow: stop following, print the summary,
      // undo as on success); any other signal, or a second Ctrl-C, tears down as always.
      if (sig === 'SIGINT' && softStop) {
        const stop = softStop;
        softStop = null;
        say('\nnfscope: stopping (Ctrl-C again to abort)\n');
        stop();
        return;
      }
      teardown(sig, SIGNAL_EXIT[sig]!);
    });
  }
  // Node ignores SIGPIPE; a write to a closed pipe fails with EPIPE instead,
  // and an 'error' event nobody listens to kills the process before any undo.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    silence(process.stdout);
    teardown(`stdout closed (${e.code ?? e.message})`, SIGNAL_EXIT.SIGPIPE!);
  });
  process.stderr.on('error', () => silence(process.stderr));
  process.on('uncaughtException', (e) => {
    say(`nfscope: internal error: ${e.stack ?? e.message}\n`);
    teardown('internal error', 1);
  });
  process.on('unhandledRejection', (e) => {
    say(`nfscope: internal error (unhandled rejection): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    teardown('internal error', 1);
  });
}

let softStop: (() => void) | null = null;

/**
 * Lets the first SIGINT end a command's wait instead of tearing the run down: `stop` is called
 * once, and the command finishes normally (its report, then every undo). null gives SIGINT back.
 */
export function onInterrupt(stop: (() => void) | null): void {
  softStop = stop;
}

/** A stream whose reader is gone: further writes are dropped, never thrown. */
function silence(stream: NodeJS.WriteStream): void {
  stream.write = (() => true) as typeof stream.write;
}

/** Writes to stderr that can never throw (a hung-up terminal, a closed pipe). */
function say(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    /* nobody to tell */
  }
}

/** Undoes every active run, newest first, then exits with code. Runs once. */
let teardownEnds = 0;

function teardown(why: string, code: number): void {
  if (tearingDown) {
    // A second Ctrl-C does not start a second teardown, nor cut this one short: the undo commands
    // run in their own process groups (targets/local.ts), which the terminal's signal does not reach.
    say(`nfscope: ${why}: still undoing; at most ${Math.max(0, Math.ceil((teardownEnds - Date.now()) / 1000))} s more, then what is left stays for \`nfscope cleanup\`\n`);
    return;
  }
  tearingDown = true;
  const observed = active.flatMap((c) => c.observed);
  if (observed.length) say(`\nnfscope: ${why}: observed before the interrupt:\n${observed.map((o) => `  ${o}`).join('\n')}\n`);
  const n = active.reduce((s, c) => s + c.size, 0);
  say(`${observed.length ? '' : '\n'}nfscope: ${why}: undoing ${n} change(s)\n`);
  teardownEnds = Date.now() + TEARDOWN_DEADLINE_MS;
  void (async () => {
    let failed = false;
    for (const c of [...active].reverse()) {
      // One deadline for the whole teardown, shared by the nested runs (the lab's steps).
      for (const f of await c.runAll(Math.max(0, teardownEnds - Date.now()))) {
        failed = true;
        say(`nfscope: cleanup failed: ${f}\n`);
      }
    }
    if (failed) say('nfscope: run `nfscope cleanup` to retry what could not be undone\n');
    process.exit(code);
  })();
}

/**
 * Runs fn with a Cleanup whose undos run when fn settles, or, on
 * a signal, a closed stdout or an internal error, before the process exits. With a target
 * that can be reached again (target.journalSpec), the changes are journaled.
 */
export async function withCleanup<T>(fn: (c: Cleanup) => Promise<T>, target?: UndoTarget): Promise<T> {
  // A run opened during a teardown would miss it (its list was taken) and be cut off by its exit.
  if (tearingDown) throw new RunEndedError('a new run');
  const spec = target?.journalSpec;
  const c = new Cleanup(spec ? Journal.open(spec) : null);
  installSignalHandlers();
  active.push(c);
  try {
    return await fn(c);
  } finally {
    const failures = await c.runAll();
    active.splice(active.indexOf(c), 1);
    for (const f of failures) process.stderr.write(`nfscope: cleanup failed: ${f}\n`);
    if (failures.length) process.stderr.write('nfscope: the journal is kept: run `nfscope cleanup` to retry\n');
  }
}
