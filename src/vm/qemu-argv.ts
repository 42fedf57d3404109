import { compareVersions } from '../parsers/versions.js';

/** The qemu command line of the micro-VM: a pure function, tested on its own. */
export interface QemuArgvOptions {
  qemu: string;
  accel: 'kvm' | 'tcg';
  vmlinuz: string;
  initramfs: string;
  kernelVersion: string;
  /** The package root on the host, exported read-only to the guest at GUEST_PACKAGE_ROOT (its agent, bpf/, payload/). */
  packageRoot: string;
  consoleLog: string;
  agentSocket: string;
  memoryMb: number;
  cpus: number;
  /**
   * The guest's vCPUs run at the same moment (a race between two CPUs, udp-race): qemu's
   * multi-threaded TCG, a host thread per vCPU. Otherwise one host thread runs every vCPU in turn,
   * because multi-threaded TCG (qemu 7.2, Debian 12) races the guest kernel's live code patching:
   * a vCPU can run code another vCPU has just patched with its old bytes, the int3 of
   * text_poke_bp() after its handler is gone. Debian's 6.12 died of it in seconds (enqueue_entity,
   * ksys_read's fentry site, sched_clock_cpu at boot) and 6.1 hung, where one thread survived
   * 900 patch rounds: scripts/repro/tcg-text-poke.mjs. Under KVM the vCPUs always run at once.
   */
  concurrentCpus: boolean;
  /** Firmware: qboot starts a Linux kernel far faster than SeaBIOS under TCG. */
  bios?: string;
  /** qemu's -L: the firmware directory of a qemu that is not the system's (vm/emulator.ts). */
  datadir?: string;
}

export function qemuArgv(o: QemuArgvOptions): string[] {
  const append = [
    // A quiet boot (every console byte is an emulated UART write under TCG); the guest's init
    // (payload/vm/init) raises the console's level once booted, so that what the kernel reports
    // during the run (a soft lockup's or a hung task's stack, at KERN_DEFAULT and KERN_INFO) reaches
    // the console nfscope keeps (vm/console-keeper.ts).
    'console=ttyS0', 'quiet', 'loglevel=4',
    // An oops panics, and a panic reboots at once, which -no-reboot turns into qemu's exit. So an
    // oops ends the run right where it happened: the oops itself is printed first whatever the log
    // level (oops_begin() calls console_verbose()), then the panic, and the run fails with both in
    // its account (vm/boot.ts). Without oops=panic the kernel kills the oopsing task and goes on,
    // tainted and maybe holding its locks: the run could report observations of a broken kernel,
    // or hang later with the cause far back in the console.
    'panic=-1', 'oops=panic',
    // Lockups, stalls and hung tasks are reported, never fatal: under TCG on a busy host a vCPU
    // thread starved for 20 s looks like a soft lockup to the guest. (Debian's defaults; said here
    // so that they hold whatever the kernel's config.)
    'softlockup_panic=0', 'hung_task_panic=0',
    `nfscope.kver=${o.kernelVersion}`,
  ].join(' ');
  return [
    o.qemu,
    ...(o.datadir ? ['-L', o.datadir] : []),
    ...(o.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', `tcg,thread=${o.concurrentCpus ? 'multi' : 'single'}`, '-cpu', 'max']),
    '-smp', String(o.cpus), '-m', String(o.memoryMb),
    // No default devices, and above all no user-mode NIC that could reach outside.
    '-nodefaults', '-no-user-config', '-nic', 'none', '-display', 'none', '-monitor', 'none', '-no-reboot',
    ...(o.bios ? ['-bios', o.bios] : []),
    '-kernel', o.vmlinuz, '-initrd', o.initramfs, '-append', append,
    // append=on: O_APPEND, so nfscope can cut the log back while qemu writes it (vm/console-keeper.ts).
    '-chardev', `file,id=con,path=${o.consoleLog.replace(/,/g, ',,')},append=on`, '-serial', 'chardev:con',
    '-chardev', `socket,id=agent,path=${o.agentSocket},server=on,wait=off`, '-serial', 'chardev:agent',
    // The host's root, read-only: the guest runs the host's tools and nfscope's own files.
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    // nfscope's own files, wherever the package sits (a path with spaces or under /tmp).
    // qemu's option syntax: a comma in a value is written twice.
    '-virtfs', `local,path=${o.packageRoot.replace(/,/g, ',,')},mount_tag=nfscope,security_model=none,readonly=on,multidevs=remap`,
  ];
}

/**
 * qemu 8.1 closed the race QemuArgvOptions.concurrentCpus describes (deba78709ae8, "accel/tcg: Always
 * lock pages before translation"), and opened another: a block that crosses a page was not recorded
 * on its second page, so a write there could leave its old translation (one thread or many), until
 * 3b279f73fa ("accel/tcg: Fix typo causing tb->page_addr[1] to not be recorded"), in 9.1.0 and the
 * 8.2.6 stable release. From those, a thread per vCPU is safe for every run. `version` is
 * parsers/versions.ts's reading of `qemu-system-x86_64 --version`.
 */
export function tcgPatchingSafe(version: string): boolean {
  if (compareVersions(version, '9.1.0') >= 0) return true;
  return compareVersions(version, '8.2.6') >= 0 && compareVersions(version, '8.3.0') < 0;
}

/** KVM only when the CPU advertises it: on these machines /dev/kvm exists but `-accel kvm` hangs without vmx/svm. */
export function kvmUsable(cpuinfo: string, devKvm: boolean): boolean {
  return devKvm && /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
}
