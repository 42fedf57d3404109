import { NotRootError } from '../lib/errors.js';
import type { Target } from '../targets/target.js';

/** BPF, namespaces, firewall rules and tracefs all need root on the target. */
export async function requireRoot(target: Target): Promise<void> {
  const r = await target.exec(['id', '-u']);
  if (r.stdout.trim() !== '0') {
    throw new NotRootError(`nfscope needs root on target '${target.name}' (BPF, namespaces, firewall, tracefs): run it with sudo`);
  }
}
