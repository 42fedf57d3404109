import { NotRootError } from '../lib/errors.js';
import { run } from '../lib/run.js';
import type { Target } from '../targets/target.js';

/** BPF, namespaces, firewall rules and tracefs all need root on the target. */
export async function requireRoot(target: Target, what = 'nfscope'): Promise<void> {
  // Where the target knows it (local, a replay) the answer is free; elsewhere ask the target (an
  // `id` that failed is that failure, not "not root").
  const uid = target.uid !== undefined ? String(target.uid) : (await run(target, ['id', '-u'], { timeoutMs: 30_000 })).stdout.trim();
  if (uid !== '0') {
    throw new NotRootError(`${what} needs root on target '${target.name}' (BPF, namespaces, firewall, tracefs): run it with sudo`);
  }
}
