import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError } from '../lib/errors.js';
import { delay } from '../lib/time.js';
import { LocalTarget, PACKAGE_ROOT } from '../targets/local.js';
import type { Running } from '../targets/target.js';
import { requireTool } from '../tools/packages.js';
import { AgentClient } from './agent-client.js';
import { ensureInitramfs } from './initramfs.js';
import { DEFAULT_KERNEL_PACKAGE, ensureKernel, type KernelInfo } from './kernel.js';
import { kvmUsable, qemuArgv } from './qemu-argv.js';
import { ensureVmlinux } from './vmlinux.js';

export interface VmOptions {
  kernelPackage?: string;
  memoryMb?: number;
  /** Longest the guest may take from qemu start to a ready agent. */
  bootTimeoutMs?: number;
  progress?: (m: string) => void;
}

export interface Vm {
  kernel: KernelInfo;
  accel: 'kvm' | 'tcg';
  agent: AgentClient;
  runDir: string;
  consoleLog: string;
  qemu: Running;
  /** Wall time from qemu's start to the agent's hello. */
  bootMs: number;
  guestKernel: string;
  shutdown(): Promise<void>;
}

export const VM_RUN_ROOT = '/run/nfscope/vm';
/** qboot (qemu-system-data): a minimal firmware that boots -kernel quickly. */
const QBOOT = '/usr/share/qemu/qboot.rom';

/** The tail of the guest console: what a user needs when a VM does not boot. */
export async function consoleTail(path: string, lines = 25): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Boots the micro-VM: a Debian kernel package under qemu, the host's root
 * shared read-only, the agent on ttyS1. qemu runs under `setpriv --pdeathsig
 * KILL` so that even a SIGKILLed nfscope leaves no qemu behind.
 */
export async function bootVm(o: VmOptions = {}): Promise<Vm> {
  const host = new LocalTarget();
  const progress = o.progress ?? (() => {});
  const qemuBin = await requireTool(host, 'qemu-system-x86_64');
  const kernel = await ensureKernel(host, o.kernelPackage ?? DEFAULT_KERNEL_PACKAGE, progress);
  const initramfs = await ensureInitramfs(host, kernel);
  const elf = await ensureVmlinux(host, kernel.vmlinuz, join(kernel.dir, `vmlinux-${kernel.version}`));
  await mkdir(VM_RUN_ROOT, { recursive: true });
  const runDir = await mkdtemp(join(VM_RUN_ROOT, 'vm-'));
  const consoleLog = join(runDir, 'console.log');
  const agentSocket = join(runDir, 'agent.sock');
  const accel = kvmUsable(readFileSync('/proc/cpuinfo', 'utf8'), existsSync('/dev/kvm')) ? 'kvm' : 'tcg';
  const argv = qemuArgv({
    qemu: qemuBin, accel, vmlinuz: elf ?? kernel.vmlinuz, initramfs, kernelVersion: kernel.version, moddir: kernel.moddir,
    agent: join(PACKAGE_ROOT, 'scripts/vm/agent.py'), consoleLog, agentSocket,
    memoryMb: o.memoryMb ?? 1024, cpus: 2,
    bios: existsSync(QBOOT) ? QBOOT : undefined,
  });
  progress(`booting ${kernel.package} (${kernel.version}) under qemu ${accel.toUpperCase()}`);
  const t0 = performance.now();
  const qemu = host.spawn(['setpriv', '--pdeathsig', 'KILL', '--', ...argv]);
  const agent = new AgentClient();
  const stop = async () => {
    await agent.shutdown(5000);
    const exited = await Promise.race([qemu.done.then(() => true), delay(10_000, false)]);
    if (!exited) await qemu.stop(100);
    await rm(runDir, { recursive: true, force: true });
  };
  try {
    // NFSCOPE_VM_BOOT_TIMEOUT_MS: for slow hosts, and for the test of a VM that never comes up.
    const timeout = o.bootTimeoutMs ?? (Number(process.env.NFSCOPE_VM_BOOT_TIMEOUT_MS) || 120_000);
    const deadline = Date.now() + timeout;
    const died = qemu.done.then((r) => r);
    await Promise.race([agent.connect(agentSocket, deadline), died.then((r) => { throw new Error(`qemu exited (${r.exitCode}): ${r.stderr.trim()}`); })]);
    const hello = await Promise.race([agent.waitHello(Math.max(0, deadline - Date.now())), died.then(() => null)]);
    if (!hello) {
      throw new CapabilityError(`the VM did not become ready within ${timeout / 1000} s (${accel}); guest console:\n${await consoleTail(consoleLog)}`);
    }
    const bootMs = performance.now() - t0;
    progress(`guest ready in ${(bootMs / 1000).toFixed(1)} s`);
    let down: Promise<void> | null = null;
    return {
      kernel, accel, agent, runDir, consoleLog, qemu, bootMs, guestKernel: String(hello.kernel),
      shutdown: () => (down ??= stop()),
    };
  } catch (e) {
    const tail = await consoleTail(consoleLog);
    await qemu.stop(100);
    await rm(runDir, { recursive: true, force: true });
    if (e instanceof CapabilityError) throw e;
    throw new CapabilityError(`the VM failed to boot: ${(e as Error).message}\nguest console:\n${tail}`);
  }
}
