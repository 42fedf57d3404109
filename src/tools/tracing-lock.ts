import { hostname } from 'node:os';
import { CapabilityError } from '../lib/errors.js';
import type { Cleanup } from '../lib/cleanup.js';
import type { Target } from '../targets/target.js';
import { alive } from '../lib/journal.js';

/** Where the lock on the global (top-level) ftrace state lives, on the target. */
export const TRACING_LOCK = '/run/nfscope/tracing.lock';

/**
 * Takes the lock on the target's global tracer for this run: mkdir is atomic
 * on any filesystem, and it works through every transport (argv only). The
 * owner file names host and pid; a lock whose owner on this host is dead is
 * stale and taken over. The release is registered before the lock is taken.
 */
export async function lockTracing(target: Target, cleanup: Cleanup, what: string): Promise<void> {
  const me = `${hostname()} ${process.pid} ${what}`;
  await target.exec(['mkdir', '-p', '/run/nfscope']);
  // Released only while it is still ours (a stale lock may have been taken over).
  cleanup.undoWith(`release ${TRACING_LOCK}`, target, [{ argv: ['rm', '-rf', TRACING_LOCK], ifFileEquals: { path: `${TRACING_LOCK}/owner`, content: me } }]);
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await target.exec(['mkdir', TRACING_LOCK]);
    if (r.exitCode === 0) {
      await target.exec(['tee', `${TRACING_LOCK}/owner`], { input: me + '\n' });
      return;
    }
    const owner = (await target.readFile(`${TRACING_LOCK}/owner`))?.trim() ?? '';
    const [host, pid] = owner.split(' ');
    const dead = host === hostname() && pid !== undefined && /^\d+$/.test(pid) && !alive(Number(pid));
    if (!dead) {
      throw new CapabilityError(
        `the kernel's global tracer is in use by another nfscope (${owner || 'owner unknown'}; lock ${TRACING_LOCK}). ` +
          'Wait for it to finish; if it was killed, run nfscope cleanup.',
      );
    }
    await target.exec(['rm', '-rf', TRACING_LOCK]);
  }
  throw new CapabilityError(`could not take ${TRACING_LOCK}`);
}
