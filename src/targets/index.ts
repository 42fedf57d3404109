import { UsageError } from '../lib/errors.js';
import type { Target } from './target.js';

export const TARGET_NAMES = ['local'] as const;

/** Resolves --target. Only `local` exists so far; the VM targets come with issue 4. */
export async function openTarget(spec: string | undefined): Promise<Target> {
  const s = spec ?? 'local';
  if (s === 'local') {
    const { LocalTarget } = await import('./local.js');
    return new LocalTarget();
  }
  if (s === 'qemu' || s === 'vagrant' || s.startsWith('ssh://')) {
    throw new UsageError(`--target ${s} is not implemented yet (tracked in issue 4); use --target local`);
  }
  throw new UsageError(`unknown --target '${s}': expected local, qemu, vagrant or ssh://[user@]host[:port]`);
}
