/**
 * The VM side's records and reports: a kernel in nfscope's cache (kernel.json), the VM `vm up`
 * left running (its state file), and `nfscope vm run|status --json`.
 */
import type { Suite } from './kernels.js';
import type { RawRun } from './run.js';

/** A distribution kernel unpacked in nfscope's cache, ready to boot. */
export interface KernelInfo {
  package: string;
  version: string;
  dir: string;
  vmlinuz: string;
  /** The package's module tree (with modules.dep), /lib/modules/VERSION in the guest. */
  moddir: string;
  config: string;
  /** The Debian package version (absent in caches made before issue 12). */
  debVersion?: string;
  /** Where it was resolved: one of nfscope's suites, or the system's apt. */
  suite?: Suite | 'system';
  /** The .debs unpacked into root/. */
  parts?: string[];
}

/** The VM `nfscope vm up` left running, for `--target qemu` to use and `nfscope vm down` to stop. */
export interface VmState {
  pid: number;
  /** The VM process's start time (/proc/PID/stat field 22): with the pid, names that one process. */
  startTime: string;
  socket: string;
  runDir: string;
  consoleLog: string;
  requested: string;
  kernel: KernelInfo;
  guestKernel: string;
  accel: 'kvm' | 'tcg';
  /** Its vCPUs run at the same moment (vm/qemu-argv.ts); absent in a state file an older nfscope wrote. */
  concurrentCpus?: boolean;
  bootMs: number;
  started: string;
  ttlSeconds: number;
  /**
   * qemu itself (pid and start time), timeout's child: if timeout is killed alone, qemu goes on
   * without its TTL, and this is how `vm status` and `vm down` still find it.
   */
  qemu?: { pid: number; startTime: string } | null;
}

export const VM_SCHEMA_VERSION = 1;

/** `nfscope vm run --json`: the guest command's run, and the VM it ran in. */
export type VmRunReport = { schemaVersion: number; kernel: string; package: string; accel: 'kvm' | 'tcg'; /** Its vCPUs ran at the same moment (vm/qemu-argv.ts). */ concurrentCpus: boolean; bootMs: number } & RawRun;

/** `nfscope vm status --json`: the kernel cache, the VMs running, the one left up. */
export interface VmStatusReport {
  schemaVersion: number;
  cache: string;
  kernels: KernelInfo[];
  running: string[];
  up: VmState | null;
}

/** vm run's exit status when the guest command ran past --timeout, as timeout(1) has it. */
export const VM_RUN_TIMED_OUT = 124;
