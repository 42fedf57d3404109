import { PassThroughExit } from '../lib/errors.js';
import { constants } from 'node:os';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VM_KERNELS_SCHEMA_VERSION, type VmKernelsReport } from '../model/kernels.js';
import { renderKernels } from '../render/kernels.js';
import { cacheRoot, cachedKernel, ensureKernel, resolveKernel } from '../vm/kernel.js';
import { AptState } from '../vm/apt.js';
import { DEFAULT_KERNEL, KERNEL_ALIASES, SUITES } from '../lib/kernel-spec.js';
import { ensureDebuginfo } from '../vm/debuginfo.js';
import { LocalTarget } from '../targets/local.js';
import { intOption } from '../lib/validate.js';
import { liveState, vmDown, vmUp } from '../vm/persistent.js';
import { VM_RUN_TIMED_OUT, VM_SCHEMA_VERSION, type KernelInfo, type VmRunReport, type VmStatusReport } from '../model/vm.js';
import { renderVmStatus, renderVmUp } from '../render/vm.js';
import { pruneRunDirs } from '../vm/boot.js';
import { withTarget } from '../targets/index.js';
import type { QemuTarget } from '../targets/qemu.js';

export async function runVmRun(argv: string[], o: { kernel?: string; json?: boolean; timeout?: string; concurrentCpus?: boolean }): Promise<void> {
  const timeoutS = intOption('--timeout', o.timeout ?? '3600', 1, 7 * 24 * 3600);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const r = await withTarget('qemu', { kernel: o.kernel, concurrentCpus: o.concurrentCpus === true, progress }, async (t) => {
    const vm = (t as QemuTarget).vm;
    const run = await t.exec(argv, { timeoutMs: timeoutS * 1000 });
    const report: VmRunReport = { schemaVersion: VM_SCHEMA_VERSION, kernel: vm.guestKernel, package: vm.kernel.package, accel: vm.accel, concurrentCpus: vm.concurrentCpus, bootMs: Math.round(vm.bootMs), ...run };
    return report;
  });
  if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
  }
  // A command that did not end by itself says how it ended: killed at the deadline (exit 124), or by
  // a signal (128 + its number, as a shell has it); never a bare 1.
  if (r.timedOut) {
    process.stderr.write(`nfscope: the guest command ran past its ${timeoutS} s deadline (--timeout) and was killed: ${argv.join(' ')}\n`);
    throw new PassThroughExit(VM_RUN_TIMED_OUT);
  }
  if (r.exitCode === null) {
    process.stderr.write(`nfscope: the guest command was killed by ${r.signal ?? 'a signal nfscope was not told'}: ${argv.join(' ')}\n`);
    throw new PassThroughExit(128 + (signalNumber(r.signal) ?? 0));
  }
  // The guest command's exit code is the run's: through run.ts, the one place that sets it
  // (process.exitCode here was overwritten by main.ts: `vm run -- false` exited 0).
  if (r.exitCode !== 0) throw new PassThroughExit(r.exitCode);
}

export async function runVmStatus(o: { json?: boolean }): Promise<void> {
  const dir = join(cacheRoot(), 'kernels');
  const kernels: KernelInfo[] = [];
  for (const k of (await readdir(dir).catch(() => [])).filter((n) => !n.startsWith('.'))) {
    const info = await readFile(join(dir, k, 'kernel.json'), 'utf8').catch(() => null);
    if (info) kernels.push(JSON.parse(info) as KernelInfo);
  }
  const up = await liveState();
  const running = await pruneRunDirs();
  const report: VmStatusReport = { schemaVersion: VM_SCHEMA_VERSION, cache: dir, kernels, running, up };
  process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : renderVmStatus(report, DEFAULT_KERNEL));
}

export async function runVmKernels(o: { json?: boolean; refresh?: boolean }): Promise<void> {
  const host = new LocalTarget();
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const report: VmKernelsReport = { schemaVersion: VM_KERNELS_SCHEMA_VERSION, aliases: [], lists: {} };
  for (const [alias, suite] of Object.entries(KERNEL_ALIASES)) {
    try {
      const r = await resolveKernel(host, alias, { refresh: o.refresh, progress });
      const info = await cachedKernel(r.package);
      report.aliases.push({ alias, suite, package: r.package, parts: r.parts, debVersion: r.debVersion, release: info?.version ?? null, cached: !!info });
    } catch (e) {
      report.aliases.push({ alias, suite, package: null, parts: [], debVersion: null, release: null, cached: false, error: (e as Error).message });
    }
  }
  for (const suite of SUITES) report.lists[suite] = (await new AptState(host, cacheRoot(), suite).updatedAt())?.toISOString() ?? null;
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  process.stdout.write(renderKernels(report, join(cacheRoot(), 'apt')));
}

export async function runVmDebuginfo(o: { kernel?: string }): Promise<void> {
  const host = new LocalTarget();
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const k = await ensureKernel(host, o.kernel ?? DEFAULT_KERNEL, progress);
  const dir = await ensureDebuginfo(host, k, progress);
  process.stdout.write(`debug info for ${k.package} (${k.version}) cached in ${dir}\n`);
}

export async function runVmUp(o: { kernel?: string; ttl: string; concurrentCpus?: boolean }): Promise<void> {
  const ttl = intOption('--ttl', o.ttl, 10, 7 * 24 * 3600);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const s = await vmUp(new LocalTarget(), o.kernel ?? DEFAULT_KERNEL, ttl, progress, o.concurrentCpus === true);
  process.stdout.write(renderVmUp(s, ttl));
}

export async function runVmDown(): Promise<void> {
  process.stdout.write((await vmDown()) ? 'VM down\n' : 'no VM was up\n');
}

function signalNumber(name: string | undefined): number | null {
  const n = name ? (constants.signals as Record<string, number>)[name] : undefined;
  return n ?? null;
}
