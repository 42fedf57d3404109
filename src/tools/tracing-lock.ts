import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import type { Cleanup } from '../lib/cleanup.js';
import type { Target } from '../targets/target.js';
import { run } from '../lib/run.js';
import { TRACING_LOCK } from '../lib/undo-allowlist.js';

/** Where the lock on the global (top-level) ftrace state lives, on the target. */
export { TRACING_LOCK };

/** flock's exit code when another process holds the lock (-E). */
const CONFLICT = 75;
const LOCKED = 'NFSCOPE_LOCKED';

/** The holder's argv: util-linux flock, non-blocking, no fork: the holder *is* the locking process. */
export function lockHolderArgv(): string[] {
  return ['flock', '--nonblock', '--no-fork', '--conflict-exit-code', String(CONFLICT), TRACING_LOCK, 'sh', '-c', `echo ${LOCKED}; exec sleep infinity`];
}

/**
 * Takes the lock on the target's global tracer for this run: an flock(2) held
 * by a process of the run, not a file that says who holds it. The kernel
 * makes it atomic (two runs cannot both take it, issue 15: two runs racing
 * over a stale mkdir lock both did) and releases it when the holder dies, so
 * there is never a lock without an owner to clean up: locally the holder dies
 * with nfscope (setpriv --pdeathsig), in a VM with the VM, over ssh when it is
 * stopped or its `timeout` ends. The lock file itself stays (unlinking a flock
 * file races with the next taker).
 */
export async function lockTracing(target: Target, cleanup: Cleanup, what: string): Promise<void> {
  await run(target, ['mkdir', '-p', '/run/nfscope']);
  const holder = target.spawn(lockHolderArgv(), { timeoutMs: 24 * 3600_000 });
  // Registered (adopted: the holder runs already) before the lock is (maybe) taken: stopping a holder that never got it is harmless.
  // Journaled with its pid: in a `vm up` guest or over ssh a holder left by a SIGKILLed run would
  // keep the lock until its 24 h timeout; `nfscope cleanup` kills it there (allowlist:
  // `sleep`, the name flock's command ends as, only while /proc/locks shows that pid holding this lock).
  await cleanup.adopt(`release ${TRACING_LOCK} (${what})`, async () => {
    await holder.stop(500);
  }, holder.pid ? { kill: { pid: holder.pid, comm: 'sleep' } } : undefined);
  const got = await new Promise<true | Awaited<typeof holder.done>>((resolve) => {
    holder.onLine((l) => l === LOCKED && resolve(true));
    void holder.done.then(resolve);
  });
  if (got === true) return;
  if (got.exitCode === CONFLICT) {
    throw new CapabilityError(
      `the kernel's global tracer is in use by another nfscope run (it holds ${TRACING_LOCK}). Wait for it to finish.`,
    );
  }
  throw new CommandFailedError(got.argv, got.exitCode, got.stderr, `taking ${TRACING_LOCK}`);
}
