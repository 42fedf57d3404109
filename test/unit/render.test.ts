/**
 * Every renderer on real reports: the reports a real lab made on Debian 6.1
 * and 6.12 (test/fixtures/lab/<kernel>/inputs/inputs.json) rendered as text,
 * the HTML lab report included, compared with golden files beside them
 * (NFSCOPE_UPDATE_GOLDEN=1 rewrites them after a deliberate change). The
 * schema of each report is checked on the way: a golden file of a report that
 * no longer fits its contract would prove nothing.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { schemaErrors } from '../helpers/schema.js';
import { graphOfTraceSyn, judgeLab, type LabInputs } from '../../src/model/lab-claims.js';
import { TRACE_SYN_SCHEMA_VERSION } from '../../src/model/trace-syn.js';
import { LAB_SCHEMA_VERSION, type LabReport } from '../../src/model/lab.js';
import { HOOKS_SCHEMA_VERSION } from '../../src/model/hooks.js';
import { renderTraceSyn } from '../../src/render/trace-syn.js';
import { renderLifetimes } from '../../src/render/lifetimes.js';
import { renderGraph } from '../../src/render/graph.js';
import { renderHooksTable } from '../../src/render/hooks-table.js';
import { renderLabHtml } from '../../src/render/lab.js';

const DIR = join(ROOT, 'test/fixtures/lab');
const kernels = existsSync(DIR) ? readdirSync(DIR) : [];

describe.each(kernels)('renderers on a real %s lab', (kernel) => {
  const dir = join(DIR, kernel, 'inputs');
  const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as LabInputs;
  const golden = (file: string, text: string) => {
    const p = join(dir, 'golden', file);
    if (process.env.NFSCOPE_UPDATE_GOLDEN === '1') writeFileSync(p, text);
    expect(existsSync(p), `${p}: missing (NFSCOPE_UPDATE_GOLDEN=1 writes it)`).toBe(true);
    expect(text).toBe(readFileSync(p, 'utf8'));
  };

  it('trace-syn, plain and the priority trick', () => {
    // Captured as format 1; format 2 only lets drop.reason be null (kernels before 5.17), so each is valid format 2.
    const v2 = (r: object) => ({ ...r, schemaVersion: TRACE_SYN_SCHEMA_VERSION });
    expect(schemaErrors('trace-syn', v2(inputs.plain))).toEqual([]);
    expect(schemaErrors('trace-syn', v2(inputs.trick))).toEqual([]);
    golden('trace-syn.txt', renderTraceSyn(inputs.plain));
    golden('trace-syn-after-confirm.txt', renderTraceSyn(inputs.trick));
  });
  it('lifetimes', () => {
    expect(schemaErrors('lifetimes', inputs.life)).toEqual([]);
    golden('lifetimes.txt', renderLifetimes(inputs.life!));
  });
  it('graph (the call tree around trace-syn\'s SYN)', () => {
    const g = graphOfTraceSyn(inputs.plain)!;
    expect(schemaErrors('graph', g)).toEqual([]);
    golden('graph.txt', renderGraph(g));
  });
  it('hooks', () => {
    const r = { schemaVersion: HOOKS_SCHEMA_VERSION, kernel, netns: inputs.plain.sandbox.server, backend: 'bpftrace' as const, hooks: inputs.plain.hooks, warnings: [] };
    expect(schemaErrors('hooks', r)).toEqual([]);
    golden('hooks.txt', renderHooksTable(r));
  });
  it('the lab as HTML', () => {
    const report: LabReport = {
      schemaVersion: LAB_SCHEMA_VERSION, kernel, target: 'qemu', port: inputs.port, claims: judgeLab(inputs),
      pipeline: { hooks: inputs.plain.hooks, dropAt: inputs.plain.drop ? { hook: inputs.plain.drop.hook, priority: inputs.plain.drop.priority, callback: inputs.plain.drop.callback } : null },
    };
    golden('lab.html', renderLabHtml(report));
  });
});
