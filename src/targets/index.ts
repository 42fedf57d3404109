import { UsageError } from '../lib/errors.js';
import type { Target } from './target.js';

export interface TargetOptions {
  /** --kernel for the micro-VM. */
  kernel?: string;
  /** The run needs two CPUs running at the same moment: a micro-VM is booted so (vm/qemu-argv.ts). */
  concurrentCpus?: boolean;
  progress?: (m: string) => void;
}

/**
 * Resolves --target. The caller closes the target (a VM is shut down); the
 * process-exit handlers of the spawned qemu cover the rest.
 */
export async function openTarget(spec: string | undefined, o: TargetOptions = {}): Promise<Target> {
  const record = process.env.NFSCOPE_RECORD;
  if (!record) return openPlain(spec, o);
  // Checked before the target opens (a VM boots): a bad place for the recording is exit 2.
  const { checkReportTarget } = await import('../lib/safe-write.js');
  await checkReportTarget(record);
  const { RecordingTarget } = await import('./recording.js');
  const { createRequire } = await import('node:module');
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return new RecordingTarget(await openPlain(spec, o), record, pkg.version);
}

async function openPlain(spec: string | undefined, o: TargetOptions): Promise<Target> {
  const s = spec ?? 'local';
  if (s.startsWith('replay:')) {
    const { ReplayTarget, checkSameCommand, loadRecording } = await import('./replay.js');
    const file = s.slice('replay:'.length);
    const rec = loadRecording(file);
    checkSameCommand(rec, process.argv.slice(2));
    return new ReplayTarget(rec, file);
  }
  if (s === 'local') {
    const { LocalTarget } = await import('./local.js');
    return new LocalTarget();
  }
  if (s === 'qemu' || s.startsWith('qemu:')) {
    // qemu:KERNEL names its kernel itself (a fleet of two kernels); plain qemu takes --kernel.
    const { QemuTarget } = await import('./qemu.js');
    return QemuTarget.boot({ kernelPackage: s === 'qemu' ? o.kernel : s.slice('qemu:'.length), concurrentCpus: o.concurrentCpus, progress: o.progress });
  }
  if (s.startsWith('ssh://')) {
    const { parseSshSpec } = await import('./ssh-spec.js');
    const { SshTarget } = await import('./ssh.js');
    return new SshTarget(parseSshSpec(s));
  }
  if (s === 'vagrant') {
    const { vagrantTarget } = await import('./vagrant.js');
    return vagrantTarget(o.progress);
  }
  throw new UsageError(`unknown --target '${s}': expected local, qemu, qemu:KERNEL, vagrant, auto, ssh://[user@]host[:port] or replay:FILE`);
}

/** Opens the target for the length of fn; a VM is shut down after, also on error and signal. */
export async function withTarget<T>(spec: string | undefined, o: TargetOptions, fn: (t: Target) => Promise<T>): Promise<T> {
  const { withCleanup } = await import('../lib/cleanup.js');
  const opened: { target: Target | null } = { target: null };
  const result = await withCleanup(async (c) => {
    // Registered before the VM exists: a signal during boot still tears it down.
    c.push('close target', async () => {
      await opened.target?.close();
    });
    opened.target = await openTarget(spec, o);
    return fn(opened.target);
  });
  // A replay that did not go as recorded fails here, after its undos, before any report is printed.
  opened.target?.assertConsumed?.();
  return result;
}
