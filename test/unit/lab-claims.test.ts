/**
 * The lab's judges (judges/lab.ts, pure) on what real labs observed:
 * test/fixtures/lab/<kernel>/inputs/inputs.json, captured with
 * NFSCOPE_CAPTURE_DIR=test/fixtures nfscope lab (meta.json beside each).
 * On the micro-VM's kernels every claim is confirmed; each judge is then shown
 * to refute, or to say not-observable, when the one observation it rests on is
 * changed. The renderers get golden files from the same real reports (only
 * scripts/capture/regen-goldens.mjs writes them, after a deliberate change).
 * These lock the reports in; test/unit/lab-independent.test.ts checks them
 * against what nfscope did not derive (raw output, counters, the workload).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { judgeLab, labReportOf } from '../../src/judges/lab.js';
import type { LabInputs } from '../../src/model/lab.js';
import type { Claim } from '../../src/model/lab.js';
import { labCaptureRenders } from '../../src/render/lab-capture.js';
import { schemaErrors } from '../helpers/schema.js';

const DIR = join(ROOT, 'test/fixtures/lab');
const kernels = existsSync(DIR) ? readdirSync(DIR) : [];

it('there are real lab captures to judge', () => {
  expect(kernels.length).toBeGreaterThan(0);
});

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const status = (claims: Claim[], id: Claim['id']) => claims.find((c) => c.id === id)!;

describe.each(kernels)('lab judges on a real %s lab', (kernel) => {
  const dir = join(DIR, kernel, 'inputs');
  const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as LabInputs;
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { argv: string };

  it('every claim confirmed, from evidence of the kinds each rests on', () => {
    expect(meta.argv).toMatch(/--target qemu/);
    const claims = judgeLab(inputs);
    expect(claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    const kinds = (id: Claim['id']) => status(claims, id).evidence.map((e) => e.kind);
    expect(kinds('conntrack-registers-lazily')).toEqual(['hooks', 'hooks', 'hooks']);
    expect(kinds('where-conntrack-sits')).toEqual(['hooks']);
    expect(kinds('conntrack-saw-the-syn')).toEqual(['callbacks']);
    expect(kinds('entry-created-and-discarded')).toEqual(['conntrack', 'drop', 'call-tree', 'stack', 'lifetimes']);
    expect(kinds('priority-trick')).toEqual(['conntrack', 'hooks', 'counter']);
  });

  it('a flow in the table refutes "created and discarded"; no conntrack hook refutes "where it sits"', () => {
    const i = clone(inputs);
    i.plain.conntrackEntries = 1;
    expect(status(judgeLab(i), 'entry-created-and-discarded').status).toBe('refuted');
    const j = clone(inputs);
    for (const h of j.plain.hooks) h.entries = h.entries.filter((e) => !e.conntrack);
    expect(status(judgeLab(j), 'where-conntrack-sits').status).toBe('refuted');
  });

  it('no conntrack callback hit refutes "saw the SYN"; a tracer not attached makes it not observable, with its reason', () => {
    const i = clone(inputs);
    i.plain.callbacks = i.plain.callbacks.filter((c) => !c.conntrack);
    expect(status(judgeLab(i), 'conntrack-saw-the-syn').status).toBe('refuted');
    const j = clone(inputs);
    j.plain.probes.callbacks = { attached: false, reason: 'the conntrack tracer did not attach: ERROR: Error attaching probe' };
    const c = status(judgeLab(j), 'conntrack-saw-the-syn');
    expect([c.status, c.reason]).toEqual(['not-observable', 'the conntrack tracer did not attach: ERROR: Error attaching probe']);
  });

  it('call trees without the allocation path refute; no call tree at all (the SYN ran in no traced task) is said, not read as a refutation', () => {
    const i = clone(inputs);
    // The trees of a run whose SYN was delivered where function_graph followed nothing.
    i.plain.callGraph!.callTrees = [];
    const c = status(judgeLab(i), 'entry-created-and-discarded');
    expect(c.status).toBe('confirmed');
    expect(c.reason).toMatch(/the call tree was not observed: no root function ran in a task function_graph followed, the sender and, where it was found, its CPU's ksoftirqd/);
    expect(c.evidence.map((e) => e.kind)).not.toContain('call-tree');
    const j = clone(inputs);
    // Trees that ran but never allocated: the one root kept, cut below it.
    j.plain.callGraph!.callTrees = j.plain.callGraph!.callTrees.slice(0, 1).map((t) => ({ ...t, tree: { ...t.tree, children: [] } }));
    expect(status(judgeLab(j), 'entry-created-and-discarded').status).toBe('refuted');
  });

  it('no flow after the trick, or a confirmed entry in the burst, refutes', () => {
    const i = clone(inputs);
    i.trick.conntrackEntry = null;
    expect(status(judgeLab(i), 'priority-trick').status).toBe('refuted');
    const j = clone(inputs);
    j.life!.counts.confirmed = 1;
    expect(status(judgeLab(j), 'entry-created-and-discarded').status).toBe('refuted');
  });

  it('the report validates against schemas/lab.schema.json; text and Markdown match their golden files', () => {
    expect(schemaErrors('lab', labReportOf(kernel, inputs))).toEqual([]);
    for (const { file, text } of labCaptureRenders(kernel, inputs, labReportOf(kernel, inputs)).filter((r) => ['lab.txt', 'lab.md'].includes(r.file))) {
      const golden = join(dir, file);
      expect(existsSync(golden), `${golden}: missing (node scripts/capture/regen-goldens.mjs writes it)`).toBe(true);
      expect(text).toBe(readFileSync(golden, 'utf8'));
    }
  });
});
