/**
 * The lab captures (test/fixtures/lab/<kernel>/inputs/) checked against what
 * does not come from nfscope's analysis of them: the raw bpftrace output of the
 * same run (which probes bpftrace attached on that kernel, and what they
 * printed), the kernel's own rule counters and table, the workload (SYNs sent,
 * the burst in the capture's argv) and, where kept, that kernel's kallsyms.
 * The re-analysis tests (analysis, lab-claims, render) lock the reports in;
 * these say the reports are right.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { judgeLab, labReportOf } from '../../src/judges/lab.js';
import type { LabInputs } from '../../src/model/lab.js';
import { buildVerdict } from '../../src/judges/trace-syn-verdict.js';
import { labCaptureRenders } from '../../src/render/lab-capture.js';

const F = join(ROOT, 'test/fixtures');
const kernels = readdirSync(join(F, 'lab')).filter((k) => existsSync(join(F, 'lab', k, 'inputs', 'inputs.json')));

interface Meta { argv: string; setup?: string; kernel: string }
const json = <T>(p: string) => JSON.parse(readFileSync(p, 'utf8')) as T;

/**
 * The raw ct_syn.bt output of the lab's traced step: kept beside the capture, or in
 * test/fixtures/ct_syn/<kernel>/ where that run's NFSCOPE_CAPTURE_DIR put it (same port, one SYN).
 */
function ctSynOfRun(kernel: string, port: number): { stdout: string; meta: Meta } | null {
  const beside = join(F, 'lab', kernel, 'inputs');
  if (existsSync(join(beside, 'ct_syn.stdout.jsonl'))) {
    return { stdout: readFileSync(join(beside, 'ct_syn.stdout.jsonl'), 'utf8'), meta: json<Meta>(join(beside, 'ct_syn.meta.json')) };
  }
  const dir = join(F, 'ct_syn', kernel);
  for (const c of existsSync(dir) ? readdirSync(dir) : []) {
    const meta = json<Meta>(join(dir, c, 'meta.json'));
    if (meta.setup === `nfscope trace-syn --port ${port} --family ipv4 --firewall iptables --count 1`) {
      return { stdout: readFileSync(join(dir, c, 'stdout.jsonl'), 'utf8'), meta };
    }
  }
  return null;
}

/** printf records of bpftrace -f json output, read with no nfscope parser. */
const printfs = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: unknown })
  .filter((e) => e.type === 'printf').map((e) => String(e.data));

describe.each(kernels)('the %s lab capture, against what nfscope did not derive', (kernel) => {
  const dir = join(F, 'lab', kernel, 'inputs');
  const inputs = json<LabInputs>(join(dir, 'inputs.json'));
  const meta = json<Meta>(join(dir, 'meta.json'));
  const ct = ctSynOfRun(kernel, inputs.port);

  it('is from the kernel its folder names, and the traced step\'s raw output is kept', () => {
    expect([meta.kernel, inputs.plain.kernel, inputs.trick.kernel]).toEqual([kernel, kernel, kernel]);
    expect(ct, `no ct_syn.bt output of port ${inputs.port} for ${kernel}`).not.toBeNull();
    expect(ct!.meta.kernel).toBe(kernel);
  });

  it('the kernel has kprobes (bpftrace attached them), and nothing made from the capture says it has none', () => {
    // bpftrace 0.17 runs BEGIN (READY) only once every probe is attached, and exits without it when one fails.
    const kprobes = [...ct!.meta.argv.matchAll(/kprobe:([A-Za-z0-9_.]+)/g)].map((m) => m[1]);
    expect(kprobes.length).toBeGreaterThan(0);
    const records = printfs(ct!.stdout);
    expect(records[0]).toBe('READY\n');
    expect(records.some((r) => r.startsWith('C '))).toBe(true);
    const texts = [
      buildVerdict(inputs.plain), buildVerdict(inputs.trick), inputs.plain.verdict, inputs.trick.verdict,
      ...judgeLab(inputs).map((c) => c.reason ?? ''),
      ...labCaptureRenders(kernel, inputs, labReportOf(kernel, inputs)).map((r) => r.text),
      readFileSync(join(dir, 'inputs.json'), 'utf8'),
    ];
    for (const t of texts) expect(t).not.toMatch(/no kprobes|has no kprobes|kprobe_events absent/);
  });

  it('the callbacks reported are kprobes bpftrace attached on that kernel (and in its kallsyms, where kept)', () => {
    const attached = new Set([...ct!.meta.argv.matchAll(/kprobe:([A-Za-z0-9_.]+)/g)].map((m) => m[1]));
    const names = inputs.plain.callbacks.map((c) => c.callback);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(attached, n).toContain(n);
    const kallsyms = join(F, 'hook-server', kernel, 'kallsyms.txt');
    if (existsSync(kallsyms)) {
      const syms = new Set(readFileSync(kallsyms, 'utf8').split('\n').filter(Boolean).map((l) => l.split(/\s+/)[2]));
      for (const n of names) expect(syms, n).toContain(n);
    }
  });

  it('the counts are the workload\'s: one SYN per traced step, the burst of the capture\'s argv', () => {
    const p = inputs.plain;
    const t = inputs.trick;
    expect([p.synsSent, t.synsSent]).toEqual([1, 1]);
    // The kernel's counters and table: nfscope's DROP rule counted each SYN; the trick left one flow per SYN.
    expect(p.ruleCounter?.packets).toBe(p.synsSent);
    expect(t.ruleCounter?.packets).toBe(t.synsSent);
    expect(t.conntrackEntries).toBe(t.synsSent);
    expect(p.conntrackEntries).toBe(0);
    // The raw output: one drop record per SYN, and each callback on the SYN's way ran once for it.
    expect(printfs(ct!.stdout).filter((r) => r.startsWith('K ')).length).toBe(p.synsSent);
    expect(p.drop?.count).toBe(p.synsSent);
    for (const c of p.callbacks) expect(c.hits, c.callback).toBe(p.synsSent);
    const burst = Number(/--burst (\d+)/.exec(meta.argv)?.[1]);
    expect(burst).toBeGreaterThan(0);
    expect(inputs.life?.counts.allocated).toBe(burst);
  });
});
