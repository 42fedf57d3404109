/**
 * bpf/ contracts on this machine's kernel: every program, filled as nfscope
 * fills it here, compiles (bpftrace --emit-elf: no load, no attach). Those
 * that need kprobes or fentry are left out where the kernel has neither, and
 * the micro-VM test compiles them on Debian's kernels (bpf-compile.vm).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leftoversSince, machineState, type MachineState } from '../helpers/sys.js';
import { compileAll } from '../helpers/bpf-compile.js';
import { LocalTarget } from '../../src/targets/local.js';
import { kernelHasKprobes } from '../helpers/kernel-facts.js';

let before: MachineState;
beforeEach(() => {
  before = machineState();
});
afterEach(async () => {
  expect(await leftoversSince(before)).toEqual([]);
});

describe('bpf/ compiles on the host kernel', () => {
  it('every program nfscope would run here', { timeout: 300_000 }, async () => {
    const results = await compileAll(new LocalTarget());
    expect(results.length).toBeGreaterThanOrEqual(4);
    // The programs that need kprobes are compiled exactly where the kernel has them (its symbols say).
    const names = results.map((r) => r.name);
    expect(names.filter((n) => /^(ct_syn\.bt|follow_cb\.bt|ct_life\.bt \(kprobes\))/.test(n)).length, names.join('\n')).toBe(kernelHasKprobes() ? 4 : 0);
    expect(names).toContain('kfree_skb_syn.bt');
    expect(names).toEqual(expect.arrayContaining(['follow_drop.bt --host 127.0.0.1', 'follow_drop.bt --host fd00:79::2']));
    expect(results.filter((r) => r.exitCode !== 0).map((r) => `${r.name}: ${r.error || `exit ${r.exitCode}`}`)).toEqual([]);
    // This kernel has BTF: every program compiled on the subset of the types it names, as nfscope runs
    // it; but fentry programs (ct_life.bt's fentry style), which take the kernel's own by design.
    expect(results.filter((r) => !r.subset && !r.fentry).map((r) => r.name)).toEqual([]);
    // And each compiled to the same ELF, byte for byte, on the kernel's own BTF: only the time differs.
    expect(results.filter((r) => r.sameElf !== true).map((r) => `${r.name}: ${r.sameElf === null ? 'the compile on the kernel\'s BTF failed' : 'another ELF'}`)).toEqual([]);
  });
});
