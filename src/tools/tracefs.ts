import { CommandFailedError } from '../lib/errors.js';
import type { Cleanup } from '../lib/cleanup.js';
import { findMount } from '../parsers/versions.js';
import type { Target } from '../targets/target.js';

export const TRACEFS_DEFAULT = '/sys/kernel/tracing';

/**
 * The tracefs mount point; mounts it when absent (bpftrace needs it for
 * tracepoints and kprobes) and registers the unmount first, so the machine is
 * left as it was found.
 */
export async function ensureTracefs(target: Target, cleanup: Cleanup): Promise<string> {
  const mounted = findMount((await target.readFile('/proc/mounts')) ?? '', 'tracefs');
  if (mounted) return mounted;
  cleanup.push(`umount ${TRACEFS_DEFAULT}`, async () => {
    await target.exec(['umount', TRACEFS_DEFAULT]);
  });
  const argv = ['mount', '-t', 'tracefs', 'nodev', TRACEFS_DEFAULT];
  const r = await target.exec(argv);
  if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr);
  return TRACEFS_DEFAULT;
}
