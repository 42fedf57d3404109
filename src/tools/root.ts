import { NotRootError } from '../lib/errors.js';
import type { Target } from '../targets/target.js';

/** BPF, namespaces, firewall rules and tracefs all need root on the target. */
export async function requireRoot(target: Target): Promise<void> {
  // Locally the answer is free; elsewhere ask the target.
  const uid = target.name === 'local' ? String(process.getuid?.()) : (await target.exec(['id', '-u'])).stdout.trim();
  if (uid !== '0') {
    throw new NotRootError(`nfscope needs root on target '${target.name}' (BPF, namespaces, firewall, tracefs): run it with sudo`);
  }
}
