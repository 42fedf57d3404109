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

/**
 * Runs fn with a Cleanup whose undos run when fn settles or when the process
 * gets SIGINT/SIGTERM (then it exits 128+signo, the shell convention).
 */
export async function withCleanup<T>(fn: (c: Cleanup) => Promise<T>): Promise<T> {
  const c = new Cleanup();
  const onSignal = (sig: NodeJS.Signals) => {
    const code = sig === 'SIGINT' ? 130 : 143;
    process.stderr.write(`\nnfscope: ${sig}: undoing ${c.size} change(s)\n`);
    void c.runAll().then((failures) => {
      for (const f of failures) process.stderr.write(`nfscope: cleanup failed: ${f}\n`);
      process.exit(code);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(c);
  } finally {
    const failures = await c.runAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const f of failures) process.stderr.write(`nfscope: cleanup failed: ${f}\n`);
  }
}
