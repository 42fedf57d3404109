import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot, DEFAULT_KERNEL_PACKAGE, ensureKernel } from '../vm/kernel.js';
import { ensureDebuginfo } from '../vm/debuginfo.js';
import { LocalTarget } from '../targets/local.js';
import { VM_RUN_ROOT } from '../vm/boot.js';
import { withTarget } from '../targets/index.js';
import type { QemuTarget } from '../targets/qemu.js';

export async function runVmRun(argv: string[], o: { kernel?: string; json?: boolean }): Promise<void> {
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const r = await withTarget('qemu', { kernel: o.kernel, progress }, async (t) => {
    const vm = (t as QemuTarget).vm;
    const run = await t.exec(argv);
    return { kernel: vm.guestKernel, package: vm.kernel.package, accel: vm.accel, bootMs: Math.round(vm.bootMs), ...run };
  });
  if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
  }
  if (r.exitCode !== 0) process.exitCode = r.exitCode ?? 1;
}

export async function runVmStatus(o: { json?: boolean }): Promise<void> {
  const dir = join(cacheRoot(), 'kernels');
  const kernels = [];
  for (const k of (await readdir(dir).catch(() => [])).filter((n) => !n.startsWith('.'))) {
    const info = await readFile(join(dir, k, 'kernel.json'), 'utf8').catch(() => null);
    if (info) kernels.push(JSON.parse(info));
  }
  const running = (await readdir(VM_RUN_ROOT).catch(() => [])).filter((n) => n.startsWith('vm-'));
  if (o.json) process.stdout.write(JSON.stringify({ cache: dir, kernels, running }, null, 2) + '\n');
  else {
    process.stdout.write(`kernel cache: ${dir}\n`);
    for (const k of kernels) process.stdout.write(`  ${k.package} (${k.version})\n`);
    if (!kernels.length) process.stdout.write('  (empty: the first --target qemu run fetches linux-image-amd64)\n');
    process.stdout.write(`VMs running: ${running.length ? running.join(', ') : 'none'}\n`);
  }
}

export async function runVmDebuginfo(o: { kernel?: string }): Promise<void> {
  const host = new LocalTarget();
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const k = await ensureKernel(host, o.kernel ?? DEFAULT_KERNEL_PACKAGE, progress);
  const dir = await ensureDebuginfo(host, k, progress);
  process.stdout.write(`debug info for ${k.package} (${k.version}) cached in ${dir}\n`);
}
