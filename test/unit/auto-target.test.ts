/**
 * --target auto (the lab's default): here when this kernel can show every step,
 * else the micro-VM, with the reason in one line. The capabilities are this
 * machine's own, probed for real, plus the two shapes that decide.
 */
import { describe, expect, it } from 'vitest';
import { chooseAutoTarget, NEEDED } from '../../src/judges/auto-target.js';
import { probeCapabilities } from '../../src/kernel/capabilities.js';
import { LocalTarget } from '../../src/targets/local.js';
import { kernelHasFunctionGraph, kernelHasKprobes } from '../helpers/kernel-facts.js';

const all = (available: boolean) => NEEDED.map((n) => ({ id: n.id, available }));

describe('chooseAutoTarget', () => {
  it('a kernel with kprobes, function_graph and tracefs: local', () => {
    expect(chooseAutoTarget(all(true), '6.1.0-56-amd64')).toEqual({ target: 'local', why: expect.stringMatching(/^target local: this kernel \(6\.1\.0-56-amd64\) has kprobes, function_graph/) });
  });
  it('one missing: the micro-VM, naming what is missing and what it is needed for', () => {
    const caps = [{ id: 'kprobes', available: false }, { id: 'function_graph', available: true }];
    const c = chooseAutoTarget(caps, 'x');
    expect(c.target).toBe('qemu');
    expect(c.why).toMatch(/has no kprobes \(needed for the callbacks that saw the SYN/);
    expect(c.why).not.toMatch(/function_graph/);
  });
  it('this machine, probed for real: the choice follows its kprobes and function_graph (from its symbols)', async () => {
    const caps = await probeCapabilities(new LocalTarget());
    const c = chooseAutoTarget(caps.caps, caps.kernel);
    expect(c.target).toBe(kernelHasKprobes() && kernelHasFunctionGraph() ? 'local' : 'qemu');
    expect(c.why).toContain(caps.kernel);
  });
});
