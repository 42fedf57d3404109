import { capConsole } from './console-cap.js';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError } from '../lib/errors.js';
import { delay } from '../lib/time.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import type { Host, Running } from '../lib/target.js';
import { requireTool } from '../tools/packages.js';
import { AgentClient } from './agent-client.js';
import { ensureInitramfs } from './initramfs.js';
import { ensureKernel, type KernelInfo } from './kernel.js';
import { debuginfoCached, ensureDebuginfo } from './debuginfo.js';
import { NF_CONN_BTF_OPTIONS, nfConnInNoBtf, parseKconfig } from '../parsers/kconfig.js';
import { DEFAULT_KERNEL } from '../lib/kernel-spec.js';
import { kvmUsable, qemuArgv } from './qemu-argv.js';
import { ensureVmlinux } from './vmlinux.js';

export interface VmOptions {
  kernelPackage?: string;
  /**
   * `nfscope vm up`: the VM outlives this process (no parent-death signal),
   * bounded instead by `timeout` after ttlSeconds.
   */
  persistent?: { ttlSeconds: number };
  memoryMb?: number;
  /** Longest the guest may take from qemu start to a ready agent. */
  bootTimeoutMs?: number;
  progress?: (m: string) => void;
}

/** What booting needs besides the options: where host commands run (a LocalTarget, from targets/). */
export interface BootOptions extends VmOptions {
  host: Host;
}

export interface Vm {
  kernel: KernelInfo;
  accel: 'kvm' | 'tcg';
  agent: AgentClient;
  runDir: string;
  consoleLog: string;
  /** The qemu process; absent for a VM attached to (left up by `nfscope vm up`). */
  qemu?: Running;
  /** qemu's pid, for a VM that outlives nfscope. */
  pid?: number;
  /** Wall time from qemu's start to the agent's hello. */
  bootMs: number;
  guestKernel: string;
  shutdown(): Promise<void>;
}

export const VM_RUN_ROOT = '/run/nfscope/vm';
/** qboot (qemu-system-data): a minimal firmware that boots -kernel quickly. */
const QBOOT = '/usr/share/qemu/qboot.rom';

/**
 * Removes run directories whose owner (the nfscope that booted the VM, or the
 * qemu of `vm up`) is gone: a SIGKILLed nfscope cannot clean up after itself,
 * its qemu died with it (pdeathsig), and its directory is cleared here.
 */
export async function pruneRunDirs(): Promise<string[]> {
  const live: string[] = [];
  for (const d of (await readdir(VM_RUN_ROOT).catch(() => [])).filter((n) => n.startsWith('vm-'))) {
    const owner = Number(await readFile(join(VM_RUN_ROOT, d, 'owner'), 'utf8').catch(() => '0'));
    if (owner > 0 && existsSync(`/proc/${owner}`)) live.push(d);
    else await rm(join(VM_RUN_ROOT, d), { recursive: true, force: true });
  }
  return live;
}

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
export async function bootVm(o: BootOptions): Promise<Vm> {
  try {
    return await bootOnce(o);
  } catch (e) {
    // Debian's 6.12 panicked once in about a hundred boots under qemu TCG, in the
    // idle loop at 1 s (sched_clock_idle_wakeup_event): an emulator flake, not the
    // user's problem. One more boot; a second panic is reported.
    if (!(e instanceof CapabilityError) || !/Kernel panic/.test(e.message)) throw e;
    (o.progress ?? (() => {}))('the guest kernel panicked while booting (qemu TCG); booting once more');
    return bootOnce(o);
  }
}

/**
 * Where nf_conntrack is a module and the kernel has no module BTF (Debian's
 * 5.10), bpftrace learns struct nf_conn only from the kernel's debug info
 * (kernel/bpf-shape.ts): fetch it before booting (once, cached), so the guest
 * has it at /usr/lib/debug. Decided by the package's own config, not its version.
 */
async function ensureTypesSource(host: Host, kernel: KernelInfo, progress: (m: string) => void): Promise<void> {
  if (debuginfoCached(kernel)) return;
  const r = await host.exec(['grep', '-E', `^(${NF_CONN_BTF_OPTIONS.join('|')})=`, kernel.config]);
  if (!nfConnInNoBtf(parseKconfig(r.stdout))) return;
  progress(`${kernel.package} has nf_conntrack as a module and no module BTF: conntrack's types come from its debug info`);
  await ensureDebuginfo(host, kernel, progress);
}

async function bootOnce(o: BootOptions): Promise<Vm> {
  const host = o.host;
  const progress = o.progress ?? (() => {});
  const qemuBin = await requireTool(host, 'qemu-system-x86_64');
  const kernel = await ensureKernel(host, o.kernelPackage ?? DEFAULT_KERNEL, progress);
  await ensureTypesSource(host, kernel, progress);
  const initramfs = await ensureInitramfs(host, kernel);
  const elf = await ensureVmlinux(host, kernel.vmlinuz, join(kernel.dir, `vmlinux-${kernel.version}`));
  await mkdir(VM_RUN_ROOT, { recursive: true });
  await pruneRunDirs();
  const runDir = await mkdtemp(join(VM_RUN_ROOT, 'vm-'));
  await writeFile(join(runDir, 'owner'), String(process.pid));
  const consoleLog = join(runDir, 'console.log');
  const agentSocket = join(runDir, 'agent.sock');
  const accel = kvmUsable(readFileSync('/proc/cpuinfo', 'utf8'), existsSync('/dev/kvm')) ? 'kvm' : 'tcg';
  const argv = qemuArgv({
    qemu: qemuBin, accel, vmlinuz: elf ?? kernel.vmlinuz, initramfs, kernelVersion: kernel.version,
    packageRoot: PACKAGE_ROOT, consoleLog, agentSocket,
    // 2 GiB: the lab compiles three bpftrace programs at once; their stack maps alone took more than 1 GiB (6.1).
    memoryMb: o.memoryMb ?? 2048, cpus: 2,
    bios: existsSync(QBOOT) ? QBOOT : undefined,
  });
  progress(`booting ${kernel.package} (${kernel.version}) under qemu ${accel.toUpperCase()}`);
  const t0 = performance.now();
  const qemu = o.persistent
    ? host.spawnDaemon(['timeout', '--signal=KILL', String(o.persistent.ttlSeconds), ...argv])
    : host.spawn(['setpriv', '--pdeathsig', 'KILL', '--', ...argv]);
  // A VM that outlives nfscope is owned by its qemu (timeout) process.
  if ('pid' in qemu) await writeFile(join(runDir, 'owner'), String((qemu as { pid: number }).pid));
  const agent = new AgentClient();
  const uncap = capConsole(consoleLog);
  const stop = async () => {
    uncap();
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
    let exited = false;
    const hello = await Promise.race([agent.waitHello(Math.max(0, deadline - Date.now())), died.then(() => ((exited = true), null))]);
    if (!hello) {
      const why = exited ? `qemu exited ${((performance.now() - t0) / 1000).toFixed(1)} s into the boot` : `the VM did not become ready within ${timeout / 1000} s`;
      throw new CapabilityError(`${why} (${accel}); guest console:\n${await consoleTail(consoleLog)}`);
    }
    const bootMs = performance.now() - t0;
    progress(`guest ready in ${(bootMs / 1000).toFixed(1)} s`);
    let down: Promise<void> | null = null;
    return {
      kernel, accel, agent, runDir, consoleLog, qemu, bootMs, guestKernel: String(hello.kernel),
      pid: 'pid' in qemu ? (qemu as { pid: number }).pid : undefined,
      shutdown: () => (down ??= stop()),
    };
  } catch (e) {
    uncap();
    const tail = await consoleTail(consoleLog);
    await qemu.stop(100);
    await rm(runDir, { recursive: true, force: true });
    if (e instanceof CapabilityError) throw e;
    throw new CapabilityError(`the VM failed to boot: ${(e as Error).message}\nguest console:\n${tail}`);
  }
}
