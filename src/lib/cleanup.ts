/**
 * The undo stack. Every state change registers its undo *before* it is made;
 * undo runs in reverse order on success, error and SIGINT/SIGTERM.
 */

type Undo = { what: string; run: () => Promise<void> };

export class Cleanup {
  private stack: Undo[] = [];
  private running: Promise<string[]> | null = null;

  /** Registers an undo. Call it before making the change it reverts. */
  push(what: string, run: () => Promise<void>): void {
    this.stack.push({ what, run });
  }

  /** Runs every undo once, newest first; returns the failures (never throws). */
  runAll(): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      while (this.stack.length > 0) {
        const u = this.stack.pop()!;
        try {
          await u.run();
        } catch (err) {
          failures.push(`${u.what}: ${(err as Error).message.split('\n')[0]}`);
        }
      }
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
let signalled = false;

function onSignal(sig: NodeJS.Signals): void {
  if (signalled) return; // a second Ctrl-C does not start a second teardown
  signalled = true;
  const code = sig === 'SIGINT' ? 130 : 143;
  const n = active.reduce((s, c) => s + c.size, 0);
  process.stderr.write(`\nnfscope: ${sig}: undoing ${n} change(s)\n`);
  void (async () => {
    for (const c of [...active].reverse()) {
      for (const f of await c.runAll()) process.stderr.write(`nfscope: cleanup failed: ${f}\n`);
    }
    process.exit(code);
  })();
}

/**
 * Runs fn with a Cleanup whose undos run when fn settles, or, on
 * SIGINT/SIGTERM, before the process exits with 128+signo.
 */
export async function withCleanup<T>(fn: (c: Cleanup) => Promise<T>): Promise<T> {
  const c = new Cleanup();
  if (active.length === 0) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  active.push(c);
  try {
    return await fn(c);
  } finally {
    const failures = await c.runAll();
    active.splice(active.indexOf(c), 1);
    if (active.length === 0 && !signalled) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    for (const f of failures) process.stderr.write(`nfscope: cleanup failed: ${f}\n`);
  }
}
