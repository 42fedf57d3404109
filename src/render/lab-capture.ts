/**
 * Every rendering of a captured lab (test/fixtures/lab/<kernel>/inputs/inputs.json, the reports
 * of its steps): one list for the unit tests that compare them with the golden files beside the
 * capture, and for scripts/capture/regen-goldens.mjs, the one place that writes those files.
 */
import type { LabInputs, LabReport } from '../model/lab.js';
import { graphOfTraceSyn } from '../model/trace-syn.js';
import { HOOKS_SCHEMA_VERSION, type HooksReport } from '../model/hooks.js';
import type { GraphReport } from '../model/graph.js';
import { renderTraceSyn } from './trace-syn.js';
import { renderLifetimes } from './lifetimes.js';
import { renderGraph } from './graph.js';
import { renderHooksTable } from './hooks-table.js';
import { renderLabHtml, renderLabMarkdown, renderLabText } from './lab.js';

/** The hooks report of the plain step's server netns (the listing trace-syn made). */
export function hooksReportOf(kernel: string, inputs: LabInputs): HooksReport {
  const sb = inputs.plain.sandbox;
  if (!sb) throw new Error('lab capture: the plain step has no sandbox, so its listing names no netns');
  return {
    schemaVersion: HOOKS_SCHEMA_VERSION, kernel, netns: sb.server, backend: 'bpftrace',
    // A capture whose report did not keep the listing's warnings is shown with none.
    hooks: inputs.plain.hooks, warnings: inputs.plain.hookWarnings ?? [],
  };
}

export interface CaptureRender {
  /** Path under the capture's inputs/ folder. */
  file: string;
  text: string;
}

/** Each golden file of a capture with the text the renderers make of it now. */
/** lab: the report the judges made of these inputs (judges/lab.ts labReportOf). */
export function labCaptureRenders(kernel: string, inputs: LabInputs, lab: LabReport): CaptureRender[] {
  const out: CaptureRender[] = [
    { file: 'golden/trace-syn.txt', text: renderTraceSyn(inputs.plain) },
    { file: 'golden/trace-syn-after-confirm.txt', text: renderTraceSyn(inputs.trick) },
  ];
  if (inputs.life) out.push({ file: 'golden/lifetimes.txt', text: renderLifetimes(inputs.life) });
  const g: GraphReport | null = graphOfTraceSyn(inputs.plain);
  if (g) out.push({ file: 'golden/graph.txt', text: renderGraph(g) });
  out.push(
    { file: 'golden/hooks.txt', text: renderHooksTable(hooksReportOf(kernel, inputs)) },
    { file: 'golden/lab.html', text: renderLabHtml(lab) },
    { file: 'lab.txt', text: renderLabText(lab, { explain: true }) },
    { file: 'lab.md', text: renderLabMarkdown(lab) },
  );
  return out;
}
