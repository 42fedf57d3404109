/**
 * Every renderer on real reports: the reports a real lab made on Debian 6.1
 * and 6.12 (test/fixtures/lab/<kernel>/inputs/inputs.json) rendered as text,
 * the HTML lab report included, compared with golden files beside them. Only
 * scripts/capture/regen-goldens.mjs writes those files, after a deliberate
 * change; this test never does. The schema of each report is checked on the
 * way: a golden file of a report that no longer fits its contract would prove
 * nothing.
 * These lock the reports in; test/unit/lab-independent.test.ts checks them
 * against what nfscope did not derive (raw output, counters, the workload).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { schemaErrors } from '../helpers/schema.js';
import { graphOfTraceSyn } from '../../src/model/trace-syn.js';
import type { LabInputs } from '../../src/model/lab.js';
import { labReportOf } from '../../src/judges/lab.js';
import { hooksReportOf, labCaptureRenders } from '../../src/render/lab-capture.js';

const DIR = join(ROOT, 'test/fixtures/lab');
const kernels = existsSync(DIR) ? readdirSync(DIR) : [];

describe.each(kernels)('renderers on a real %s lab', (kernel) => {
  const dir = join(DIR, kernel, 'inputs');
  const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as LabInputs;
  const renders = labCaptureRenders(kernel, inputs, labReportOf(kernel, inputs)).filter((r) => r.file.startsWith('golden/'));

  it('every report fits its schema', () => {
    expect(schemaErrors('trace-syn', inputs.plain)).toEqual([]);
    expect(schemaErrors('trace-syn', inputs.trick)).toEqual([]);
    expect(schemaErrors('lifetimes', inputs.life)).toEqual([]);
    expect(schemaErrors('graph', graphOfTraceSyn(inputs.plain))).toEqual([]);
    expect(schemaErrors('hooks', hooksReportOf(kernel, inputs))).toEqual([]);
  });
  it.each(renders.map((r) => [r.file, r.text] as const))('%s matches its golden file', (file, text) => {
    const p = join(dir, file);
    expect(existsSync(p), `${p}: missing (node scripts/capture/regen-goldens.mjs writes it)`).toBe(true);
    expect(text).toBe(readFileSync(p, 'utf8'));
  });
});
