import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootVm, type Vm, type VmOptions } from '../vm/boot.js';
import { LocalTarget } from './local.js';
import { GUEST_PACKAGE_ROOT } from '../lib/paths.js';
import { DEFAULT_KERNEL } from '../lib/kernel-spec.js';
import type { AgentClient } from '../vm/agent-client.js';
import { AgentBackedTarget } from './agent-backed.js';

/**
 * The micro-VM as a target: argv runs in the guest through the agent. The
 * guest sees the host's root, so bundled files have the same paths there.
 */
export class QemuTarget extends AgentBackedTarget {
  readonly name = 'qemu';
  readonly disposable = true;
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
    if (up && up.requested === (o.kernelPackage ?? DEFAULT_KERNEL) && ((up.concurrentCpus ?? up.accel === 'kvm') || !o.concurrentCpus)) {
      o.progress?.(`using the VM left up (pid ${up.pid}, ${up.kernel.package})`);
      return new QemuTarget(await attachVm(up), up.requested);
    }
    if (up && up.requested === (o.kernelPackage ?? DEFAULT_KERNEL)) {
      o.progress?.(`not using the VM left up (pid ${up.pid}): its vCPUs take turns ('vm up --concurrent-cpus' makes one whose vCPUs do not), and this run needs two at the same moment; booting one for it`);
    }
    return new QemuTarget(await bootVm({ ...o, host: new LocalTarget() }));
  }

  protected async agent(): Promise<AgentClient> {
    return this.vm.agent;
  }

  async bundled(rel: string): Promise<string> {
    return join(GUEST_PACKAGE_ROOT, rel);
  }

  /** The .BTF section of the guest kernel's ELF vmlinux on this machine, extracted once beside it. */
  async kernelBtf(): Promise<Buffer | null> {
    const { ensureKernelBtf } = await import('../vm/vmlinux.js');
    const file = await ensureKernelBtf(new LocalTarget(), this.vm.kernel.dir, this.vm.kernel.version);
    return file ? readFile(file) : null;
  }

  close(): Promise<void> {
    return this.vm.shutdown();
  }
}
