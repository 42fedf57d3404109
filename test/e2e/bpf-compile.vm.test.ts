/**
 * bpf/ contracts on Debian's kernels in the micro-VM: every program, filled
 * as nfscope fills it for that kernel (ct_syn's callbacks from a real hook
 * listing, both ct_life probe styles), compiles with bpftrace --emit-elf.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { VM_KERNELS, qemuProcesses } from '../helpers/qemu.js';
import { compileAll } from '../helpers/bpf-compile.js';
import { QemuTarget } from '../../src/targets/qemu.js';

afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

describe.each(VM_KERNELS)('bpf/ compiles in the micro-VM, Debian $era', (k) => {
  it('every program nfscope runs there, ct_syn and ct_life included', { timeout: 600_000 }, async () => {
    const t = await QemuTarget.boot({ kernelPackage: k.pkg });
    try {
      await t.exec(['mount', '-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
      const results = await compileAll(t);
      const names = results.map((r) => r.name);
      expect(names.some((n) => n.startsWith('ct_syn.bt with ') && n.includes('ipv4_conntrack_in'))).toBe(true);
      expect(names).toContain('ct_life.bt (kprobes)');
      expect(results.filter((r) => r.exitCode !== 0).map((r) => `${r.name}: ${r.error || `exit ${r.exitCode}`}`)).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
