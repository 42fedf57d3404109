/**
 * nfscope doctor on this machine must tell the truth: each claim is checked
 * here against the kernel's own files, not against what we expect the
 * machine to be.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { kernelHasFunctionGraph, kernelHasKprobes } from '../helpers/kernel-facts.js';
import { expectSchema } from '../helpers/schema.js';

describe('nfscope doctor --json', () => {
  it('reports capabilities that match the kernel', async () => {
    const r = await nfscope(['doctor', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expectSchema('doctor', d);
    const cap = (id: string) => d.caps.find((c: { id: string }) => c.id === id);
    expect(d.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    expect(cap('btf').available).toBe(existsSync('/sys/kernel/btf/vmlinux'));
    expect(cap('kcore').available).toBe(existsSync('/proc/kcore'));
    expect(cap('modules').available).toBe(existsSync('/proc/modules'));
    const mounts = readFileSync('/proc/mounts', 'utf8');
    const tracefs = mounts.split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'tracefs')?.[1] ?? null;
    expect(d.tracefs).toBe(tracefs);
    // From the kernel's symbols, mounted tracefs or not (unmounted on the 6.18 host between runs).
    expect(cap('kprobes').available, cap('kprobes').detail).toBe(kernelHasKprobes());
    expect(cap('function_graph').available, cap('function_graph').detail).toBe(kernelHasFunctionGraph());
    if (tracefs) {
      expect(cap('kprobes').available).toBe(existsSync(`${tracefs}/kprobe_events`));
      const tracers = readFileSync(`${tracefs}/available_tracers`, 'utf8').split(/\s+/);
      expect(cap('function_graph').available).toBe(tracers.includes('function_graph'));
    }
    for (const c of d.caps) {
      expect(typeof c.detail).toBe('string');
      if (!c.available) {
        expect(c.disables, c.id).toBeTruthy();
        expect(c.fix, c.id).toBeTruthy();
      }
    }
    const bpftrace = d.tools.find((t: { name: string }) => t.name === 'bpftrace');
    expect(bpftrace.version).toMatch(/^\d+\.\d+/);
  });

  it('the text rendering names what each missing piece disables', async () => {
    const r = await nfscope(['doctor']);
    expect(r.exitCode).toBe(0);
    const j = JSON.parse((await nfscope(['doctor', '--json'])).stdout);
    for (const c of j.caps.filter((x: { available: boolean }) => !x.available)) {
      expect(r.stdout).toContain(`- ${c.id}: disables ${c.disables}`);
    }
  });
});
