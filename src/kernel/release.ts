import { CommandFailedError } from '../lib/errors.js';
import type { Target } from '../targets/target.js';

const OSRELEASE = '/proc/sys/kernel/osrelease';

/**
 * The target's kernel release, as /proc/sys/kernel/osrelease gives it. Reports, fixtures and the
 * kernel config are found by it: one that cannot be read is a failure, never 'unknown'.
 */
export async function kernelRelease(target: Target): Promise<string> {
  const text = (await target.readFile(OSRELEASE))?.trim();
  if (!text) throw new CommandFailedError(['cat', OSRELEASE], null, '', `the kernel release of ${target.name} could not be read (${text === undefined ? 'absent or refused' : 'empty'})`);
  return text;
}
