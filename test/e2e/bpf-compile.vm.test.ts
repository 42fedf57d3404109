/**
 * bpf/ contracts on Debian's kernels in the micro-VM: the variants nfscope runs
 * only when something is missing there (no listing server, no chain symbols,
 * nf_queue not probe-able), filled as nfscope fills them for that kernel
 * (follow_cb's callbacks from a real hook listing), compile with bpftrace
 * --emit-elf. The variants nfscope runs by default are compiled, loaded and
 * run on the same kernels by follow.vm, qemu.vm and lifetimes.vm; the host
 * test compiles every one of them. The fallbacks compile here on the oldest
 * kernel of VM_KERNELS (6.1); bpf-compile.host compiles every variant on the
 * host's kernel (6.18 here). About 100 s a kernel under TCG.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { VM_KERNELS, qemuProcesses } from '../helpers/qemu.js';
import { compileAll } from '../helpers/bpf-compile.js';
import { QemuTarget } from '../../src/targets/qemu.js';

afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

describe.each([VM_KERNELS[0]])('bpf/ compiles in the micro-VM, Debian $era', (k) => {
  it('the fallback variants: the plain walk and listing servers, the one-shot listings, follow_cb without nf_queue', { timeout: 600_000 }, async () => {
    const t = await QemuTarget.boot({ kernelPackage: k.pkg });
    try {
      await t.exec(['mount', '-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
      const results = await compileAll(t, { primaries: false });
      const names = results.map((r) => r.name);
      // The callbacks came from a real listing of nfscope's sandbox: conntrack's own are among them.
      expect(names.some((n) => n.startsWith('follow_cb.bt with ') && n.includes('ipv4_conntrack_in') && !n.includes('nf_queue'))).toBe(true);
      expect(names).toContain('nf_hooks.bt as the listing server (ipv4)');
      expect(results.filter((r) => r.exitCode !== 0).map((r) => `${r.name}: ${r.error || `exit ${r.exitCode}`}`)).toEqual([]);
      // Debian's 6.1 has BTF, its modules' too: each compiled on its BTF subset, as nfscope runs it.
      expect(results.filter((r) => !r.subset && !r.fentry).map((r) => r.name)).toEqual([]);
    // And each compiled to the same ELF, byte for byte, on the kernel's own BTF: only the time differs.
    expect(results.filter((r) => r.sameElf !== true).map((r) => `${r.name}: ${r.sameElf === null ? 'the compile on the kernel\'s BTF failed' : 'another ELF'}`)).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
