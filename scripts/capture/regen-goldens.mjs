#!/usr/bin/env node
// regen-goldens.mjs - regenerates what nfscope's own code derived in the lab captures
// (test/fixtures/lab/<kernel>/inputs/), from what those captures observed, through the code as it
// is now. The only writer of those files: the unit tests compare, they never write.
//
// In inputs.json, the observations (hooks, callbacks, drop, conntrack table, rule counter,
// unconfirmed entry, call graph, lifetimes, registration) are left as captured. Rewritten, per
// trace-syn report (plain, trick):
//   - probes: which tracer was attached, or why not. A capture without it gets it from what it
//     holds: an `unavailable` entry for the observation gives its reason; a record of the
//     observation (a callback hit, the unconfirmed entry's life, a drop) proves its tracer was
//     attached; an untraced run ("not traced in this run") was so for all three. Anything else
//     cannot be derived: the script stops and says to recapture.
//   - unavailable: the probes' gaps first (model/trace-syn.ts probeGaps), then the other entries.
//   - schemaVersion, verdict (judges/trace-syn-verdict.ts).
// Then every golden file (render/lab-capture.ts) is written from the result.
//
// Usage: npx tsc -p tsconfig.json && node scripts/capture/regen-goldens.mjs [--check] [KERNEL...]
//   --check: write nothing; list what would change, exit 1 if anything would.
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { probeGaps, TRACED_OBSERVATIONS, TRACE_SYN_SCHEMA_VERSION } = await import(join(root, 'dist/model/trace-syn.js'));
const { buildVerdict } = await import(join(root, 'dist/judges/trace-syn-verdict.js'));
const { labCaptureRenders } = await import(join(root, 'dist/render/lab-capture.js'));
const { labReportOf } = await import(join(root, 'dist/judges/lab.js'));

const UNTRACED = /^not traced in this run\b/;

/** probes of a capture made before reports carried them, from what it holds (see the header). */
function deriveProbes(r, where) {
  const untraced = r.unavailable.find((u) => UNTRACED.test(u.reason));
  const seen = { callbacks: r.callbacks.length > 0, unconfirmed: r.unconfirmed !== null, drop: r.drop !== null };
  return Object.fromEntries(TRACED_OBSERVATIONS.map((o) => {
    const u = r.unavailable.find((x) => x.observation === o);
    if (u) return [o, { attached: false, reason: u.reason }];
    if (seen[o]) return [o, { attached: true }];
    if (untraced) return [o, { attached: false, reason: untraced.reason }];
    throw new Error(`${where}: ${o}: no record, no reason in the capture: it cannot be regenerated; recapture it on a VM`);
  }));
}

function regenReport(r, where) {
  const probes = r.probes ?? deriveProbes(r, where);
  const traced = new Set(TRACED_OBSERVATIONS);
  const out = { ...r, schemaVersion: TRACE_SYN_SCHEMA_VERSION, probes, unavailable: [...probeGaps(probes), ...r.unavailable.filter((u) => !traced.has(u.observation))] };
  out.verdict = buildVerdict(out);
  return out;
}

const check = process.argv.includes('--check');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = join(root, 'test/fixtures/lab');
let changed = 0;
for (const kernel of readdirSync(dir).filter((k) => !only.length || only.includes(k))) {
  const inputsDir = join(dir, kernel, 'inputs');
  const path = join(inputsDir, 'inputs.json');
  if (!existsSync(path)) continue;
  const inputs = JSON.parse(readFileSync(path, 'utf8'));
  inputs.plain = regenReport(inputs.plain, `${kernel} plain`);
  inputs.trick = regenReport(inputs.trick, `${kernel} trick`);
  const files = [{ file: 'inputs.json', text: JSON.stringify(inputs, null, 2) + '\n' }, ...labCaptureRenders(kernel, inputs, labReportOf(kernel, inputs))];
  for (const { file, text } of files) {
    const p = join(inputsDir, file);
    if (existsSync(p) && readFileSync(p, 'utf8') === text) continue;
    changed++;
    console.log(`${check ? 'would change' : 'wrote'} ${join('test/fixtures/lab', kernel, 'inputs', file)}`);
    if (!check) writeFileSync(p, text);
  }
}
if (check && changed) process.exit(1);
