import type { VmState, VmStatusReport } from '../model/vm.js';

/** `nfscope vm status`'s text. `defaultKernel`: what the first --target qemu run fetches (lib/kernel-spec.ts). */
export function renderVmStatus(r: VmStatusReport, defaultKernel: string): string {
  let out = `kernel cache: ${r.cache}\n`;
  for (const k of r.kernels) out += `  ${k.package} (${k.version})\n`;
  if (!r.kernels.length) out += `  (empty: the first --target qemu run fetches the ${defaultKernel} kernel)\n`;
  out += `VMs running: ${r.running.length ? r.running.join(', ') : 'none'}\n`;
  if (r.up) out += `left up by vm up: ${r.up.kernel.package} (${r.up.guestKernel}), pid ${r.up.pid}, since ${r.up.started}\n`;
  return out;
}

/** `nfscope vm up`'s line: the VM ready, and how long it stays. */
export function renderVmUp(s: VmState, ttl: number): string {
  return `VM up: ${s.kernel.package} (${s.guestKernel}), qemu pid ${s.pid}, ready in ${(s.bootMs / 1000).toFixed(1)} s; ` +
    `--target qemu uses it; it stops after ${ttl} s or with 'nfscope vm down'\n`;
}
