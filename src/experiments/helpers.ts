/** What several experiments run alike on a target. */
import type { Cleanup } from '../lib/cleanup.js';
import type { Running, Target } from '../targets/target.js';

/** Waits for a READY line from a spawned helper (flow.py), or its exit; returns it, running. */
export async function ready(target: Target, argv: string[], what: string, cleanup: Pick<Cleanup, 'adopt'>): Promise<Running> {
  const p = target.spawn(argv, { timeoutMs: 120_000 });
  await cleanup.adopt(`stop ${what}`, async () => {
    await p.stop(300);
  });
  const ok = await Promise.race([
    new Promise<boolean>((res) => p.onLine((l) => l === 'READY' && res(true))),
    p.done.then(() => false),
  ]);
  if (!ok) throw new Error(`${what} did not start: ${(await p.done).stderr.trim().split('\n').slice(-2).join(' ')}`);
  return p;
}

