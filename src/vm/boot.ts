import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapabilityError } from '../lib/errors.js';
import { delay } from '../lib/time.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import type { Host, RawRun, Running } from '../lib/target.js';
import { ConsoleKeeper } from './console-keeper.js';
import { guestSays, qemuStatus, type ConsoleEvidence } from './console-evidence.js';
import { AgentClient } from './agent-client.js';
import { ensureInitramfs } from './initramfs.js';
import { ensureKernel } from './kernel.js';
import type { KernelInfo } from '../model/vm.js';
import { debuginfoCached, ensureDebuginfo } from './debuginfo.js';
import { NF_CONN_BTF_OPTIONS, nfConnInNoBtf, parseKconfig } from '../parsers/kconfig.js';
import { DEFAULT_KERNEL } from '../lib/kernel-spec.js';
import { kvmUsable, qemuArgv } from './qemu-argv.js';
import { chooseEmulator } from './emulator.js';
import { ensureVmlinux } from './vmlinux.js';
import { allSettledOrThrow } from '../lib/settled.js';

export interface VmOptions {
  kernelPackage?: string;
  /**
   * `nfscope vm up`: the VM outlives this process (no parent-death signal),
   * bounded instead by `timeout` after ttlSeconds.
   */
  persistent?: { ttlSeconds: number };
  memoryMb?: number;
  /** The run needs the guest's two vCPUs running at the same moment (vm/qemu-argv.ts says what that costs under TCG). */
  concurrentCpus?: boolean;
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
  /** Its vCPUs run at the same moment: KVM, or TCG asked for it (VmOptions.concurrentCpus). */
  concurrentCpus: boolean;
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
/** The private directory of a guest console: mkdtemp(tmpdir/PREFIX). */
export const CONSOLE_DIR_PREFIX = 'nfscope-console-';
/** qboot (qemu-system-data): a minimal firmware that boots -kernel quickly. */
const QBOOT_NAME = 'qboot.rom';
const QBOOT = `/usr/share/qemu/${QBOOT_NAME}`;

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

/** The console lines that matter, indented, for the user's terminal. */
function consoleBlock(ev: ConsoleEvidence, path: string): string {
  return `guest console (${ev.kinds.length ? 'its trouble reports' : 'its last lines'}; kept in ${path}):\n${ev.lines.map((l) => `  | ${l}`).join('\n')}`;
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

/**
 * Boots the micro-VM: a Debian kernel package under qemu, the host's root
 * shared read-only, the agent on ttyS1. qemu runs under `setpriv --pdeathsig
 * KILL` so that even a SIGKILLed nfscope leaves no qemu behind.
 */
export async function bootVm(o: BootOptions): Promise<Vm> {
  const host = o.host;
  const progress = o.progress ?? (() => {});
  const accel = kvmUsable(readFileSync('/proc/cpuinfo', 'utf8'), existsSync('/dev/kvm')) ? 'kvm' : 'tcg';
  // Both ask apt (each its own state), independently: at once.
  const emulatorP = chooseEmulator(host, accel, progress);
  const kernelP = ensureKernel(host, o.kernelPackage ?? DEFAULT_KERNEL, progress);
  await allSettledOrThrow<unknown>([emulatorP, kernelP]);
  const [emulator, kernel] = [await emulatorP, await kernelP];
  const concurrentCpus = accel === 'kvm' || (o.concurrentCpus ?? false) || emulator.patchingSafe;
  if (emulator.warning) progress(`warning: ${emulator.warning}`);
  await ensureTypesSource(host, kernel, progress);
  const initramfs = await ensureInitramfs(host, kernel);
  const elf = await ensureVmlinux(host, kernel.vmlinuz, join(kernel.dir, `vmlinux-${kernel.version}`));
  await mkdir(VM_RUN_ROOT, { recursive: true });
  await pruneRunDirs();
  const runDir = await mkdtemp(join(VM_RUN_ROOT, 'vm-'));
  await writeFile(join(runDir, 'owner'), String(process.pid));
  // The guest console lives in a private directory (mkdtemp: 0700) for the whole run, and stays
  // there when the guest died or hung (its path is in the error); a clean end removes it, and so
  // does `vm down` for a VM left up.
  const consoleDir = await mkdtemp(join(tmpdir(), CONSOLE_DIR_PREFIX));
  const consoleLog = join(consoleDir, 'console.log');
  const agentSocket = join(runDir, 'agent.sock');
  const argv = qemuArgv({
    qemu: emulator.bin, datadir: emulator.datadir, accel, vmlinuz: elf ?? kernel.vmlinuz, initramfs, kernelVersion: kernel.version,
    packageRoot: PACKAGE_ROOT, consoleLog, agentSocket,
    // 2 GiB: the lab compiles three bpftrace programs at once; their stack maps alone took more than 1 GiB (6.1).
    memoryMb: o.memoryMb ?? 2048, cpus: 2, concurrentCpus,
    bios: [emulator.datadir && join(emulator.datadir, QBOOT_NAME), QBOOT].find((f) => f && existsSync(f)) || undefined,
  });
  const mode = accel === 'kvm' ? '' : concurrentCpus ? ', a host thread per vCPU' : ', its vCPUs taking turns on one host thread';
  progress(`booting ${kernel.package} (${kernel.version}) under qemu ${emulator.version} ${accel.toUpperCase()}${mode}${emulator.origin === "the system's" ? '' : `; qemu: ${emulator.origin}`}`);
  const t0 = performance.now();
  const qemu = o.persistent
    ? host.spawnDaemon(['timeout', '--signal=KILL', String(o.persistent.ttlSeconds), ...argv])
    : host.spawn(argv); // under pdeathsig, as every spawn of the local target
  // A VM that outlives nfscope is owned by its qemu (timeout) process.
  if ('pid' in qemu) await writeFile(join(runDir, 'owner'), String((qemu as { pid: number }).pid));
  const agent = new AgentClient();
  const keeper = new ConsoleKeeper(consoleLog).start();
  // The account of a death or a hang goes to the user's terminal once in full; the failed run's
  // stderr carries its one-line summary (a report shows a failure on one line).
  const report = o.progress ?? ((m: string) => void process.stderr.write(`${m}\n`));
  let shown = '';
  const show = (ev: ConsoleEvidence) => {
    const block = consoleBlock(ev, consoleLog);
    if (block !== shown) report((shown = block));
  };
  /** The guest went away or hung: its console is kept for the user. */
  let troubled = false;
  const QEMU_EXIT_WAIT_MS = 10_000;
  agent.witness = {
    gone: async () => {
      troubled = true;
      const r = await Promise.race([qemu.done, delay(QEMU_EXIT_WAIT_MS, null)]);
      const ev = await keeper.evidence();
      show(ev);
      return `${guestSays(ev)}; ${qemuStatus(r, QEMU_EXIT_WAIT_MS)}; guest console kept in ${consoleLog}`;
    },
    silent: async () => {
      troubled = true;
      const ev = await keeper.evidence();
      show(ev);
      return `qemu still runs; ${guestSays(ev)}; guest console kept in ${consoleLog}`;
    },
  };
  const stop = async () => {
    if (agent.closed) troubled = true; // it went away before it was asked to
    await agent.shutdown(5000);
    let r = await Promise.race([qemu.done, delay(QEMU_EXIT_WAIT_MS, null)]);
    if (!r) {
      troubled = true;
      r = await qemu.stop(100);
      report(`the guest did not power off within ${QEMU_EXIT_WAIT_MS / 1000} s of its shutdown: ${qemuStatus(r, 0)}; guest console kept in ${consoleLog}`);
    }
    if (!troubled) {
      // A run that ended well can still have had the kernel complain (a soft lockup, an RCU stall
      // under a loaded host): said once, and the console kept, so a slow or odd run has its evidence.
      const ev = await keeper.evidence();
      if (ev.kinds.length) {
        troubled = true;
        show(ev);
        report(`the guest kernel reported ${ev.kinds.join(', ')} during the run: "${ev.headline}"; guest console kept in ${consoleLog}`);
      }
    }
    await keeper.stop(troubled);
    if (!troubled) await rm(consoleDir, { recursive: true, force: true });
    await rm(runDir, { recursive: true, force: true });
  };
  try {
    // NFSCOPE_VM_BOOT_TIMEOUT_MS: for slow hosts, and for the test of a VM that never comes up.
    const timeout = o.bootTimeoutMs ?? (Number(process.env.NFSCOPE_VM_BOOT_TIMEOUT_MS) || 120_000);
    const deadline = Date.now() + timeout;
    const died = qemu.done.then((r) => r);
    await Promise.race([agent.connect(agentSocket, deadline), died.then((r) => { throw new Error(qemuStatus(r, 0)); })]);
    let exited: RawRun | null = null;
    const hello = await Promise.race([agent.waitHello(Math.max(0, deadline - Date.now())), died.then((r) => ((exited = r), null))]);
    if (!hello) {
      const why = exited ? `qemu exited ${((performance.now() - t0) / 1000).toFixed(1)} s into the boot (${qemuStatus(exited, 0)})` : `the VM did not become ready within ${timeout / 1000} s`;
      throw new CapabilityError(`${why} (${accel})`);
    }
    const bootMs = performance.now() - t0;
    progress(`guest ready in ${(bootMs / 1000).toFixed(1)} s`);
    // A VM left up outlives this process, and its console with it: bounded by its TTL only.
    if (o.persistent) await keeper.stop();
    let down: Promise<void> | null = null;
    return {
      kernel, accel, concurrentCpus, agent, runDir, consoleLog, qemu, bootMs, guestKernel: String(hello.kernel),
      pid: 'pid' in qemu ? (qemu as { pid: number }).pid : undefined,
      shutdown: () => (down ??= stop()),
    };
  } catch (e) {
    await qemu.stop(100);
    const ev = await keeper.evidence();
    await keeper.stop(true);
    await rm(runDir, { recursive: true, force: true });
    const msg = e instanceof CapabilityError ? e.message : `the VM failed to boot: ${(e as Error).message}`;
    throw new CapabilityError(`${msg}; ${guestSays(ev)}; ${consoleBlock(ev, consoleLog)}`);
  }
}
