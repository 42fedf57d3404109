import { statSync } from 'node:fs';
import { UsageError } from '../lib/errors.js';
import { parseKernelSpec } from '../lib/kernel-spec.js';
import { parseSshSpec } from '../targets/ssh-spec.js';
import { parseNetnsArg } from '../tools/netns.js';


/**
 * The options several commands share, checked before any action runs
 * (commander's preAction hook): a bad value exits 2 before anything is
 * opened, booted or changed, whichever target it would have applied to.
 */
export function checkCommonOptions(o: { target?: unknown; kernel?: unknown; netns?: unknown }): void {
  // `hooks` takes --target more than once (a fleet): each is checked alike.
  for (const t of Array.isArray(o.target) ? o.target : [o.target]) if (typeof t === 'string') checkTargetSpec(t);
  if (typeof o.kernel === 'string') parseKernelSpec(o.kernel);
  if (typeof o.netns === 'string') parseNetnsArg(o.netns);
}

/** One --target value (also a line of --targets-file): exit 2 before anything opens. */
export function checkTargetSpec(t: string): void {
  if (t.startsWith('ssh://')) parseSshSpec(t);
  else if (t.startsWith('replay:')) checkRecordingFile(t.slice('replay:'.length));
  else if (t.startsWith('qemu:')) parseKernelSpec(t.slice('qemu:'.length));
  else if (!['local', 'qemu', 'vagrant', 'auto'].includes(t)) {
    throw new UsageError(`unknown --target ${JSON.stringify(t.slice(0, 60))}: expected local, qemu, qemu:KERNEL, vagrant, auto, ssh://[user@]host[:port] or replay:FILE`);
  }
}

/** A recording to replay (NFSCOPE_RECORD made it): a regular file of a sane size, read when the target opens. */
function checkRecordingFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new UsageError(`--target replay:${JSON.stringify(path.slice(0, 200))}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new UsageError(`--target replay: ${JSON.stringify(path.slice(0, 200))} is not a regular file`);
  if (st.size > 256 << 20) throw new UsageError(`--target replay: ${JSON.stringify(path.slice(0, 200))} is ${st.size} bytes; a recording nfscope wrote is far smaller`);
}
