import { join } from 'node:path';
import { bootVm, type Vm, type VmOptions } from '../vm/boot.js';
import { PACKAGE_ROOT } from './local.js';
import type { ExecOptions, RawRun, Running } from './target.js';
import { ExecBackedTarget } from './exec-backed.js';
import { runningHandle } from './running.js';

/**
 * The micro-VM as a target: argv runs in the guest through the agent. The
 * guest sees the host's root, so bundled files have the same paths there.
 */
export class QemuTarget extends ExecBackedTarget {
  readonly name = 'qemu';
  /** Only a VM left up by `vm up` outlives this run; a VM booted for it dies with it (qemu under pdeathsig). */
  readonly journalSpec: string | undefined;
  private constructor(readonly vm: Vm, attachedTo?: string) {
    super();
    this.journalSpec = attachedTo ? `qemu:${attachedTo}` : undefined;
  }

  /** The VM left up by `nfscope vm up` when its kernel is the one asked for, else a new one for this run. */
  static async boot(o: VmOptions): Promise<QemuTarget> {
    const { liveState, attachVm } = await import('../vm/persistent.js');
    const up = await liveState();
    if (up && up.requested === (o.kernelPackage ?? 'linux-image-amd64')) {
      o.progress?.(`using the VM left up (pid ${up.pid}, ${up.kernel.package})`);
      return new QemuTarget(await attachVm(up), up.requested);
    }
    return new QemuTarget(await bootVm(o));
  }

  exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    const extra: Record<string, unknown> = {};
    if (opts.timeoutMs) extra.timeout = opts.timeoutMs;
    if (opts.input !== undefined) extra.input = opts.input;
    return this.vm.agent.request('exec', argv, extra).done;
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    const lines: string[] = [];
    let emit: (l: string) => void = () => {};
    const { id, done: raw } = this.vm.agent.request('spawn', argv, opts.timeoutMs ? { timeout: opts.timeoutMs } : {}, (l) => {
      lines.push(l);
      emit(l);
    });
    // The agent streams stdout as lines; hand the whole of it back at the end too.
    const done = raw.then((r) => ({ ...r, stdout: lines.join('\n') + (lines.length ? '\n' : '') }));
    const h = runningHandle(argv, done, (sig) => this.vm.agent.signal(id, sig));
    emit = h.emit;
    return h.running;
  }

  async bundled(rel: string): Promise<string> {
    return join(PACKAGE_ROOT, rel);
  }

  close(): Promise<void> {
    return this.vm.shutdown();
  }
}
