#!/usr/bin/env node
// capture/lab-goldens.mjs - rewrites the golden renderings of the real lab captures
// (test/fixtures/lab/<kernel>/inputs/golden/*.txt, lab.html, and inputs/lab.txt, lab.md) from
// their inputs.json, with the built renderers (dist/: run `npm run build` first). The tests
// (test/unit/render.test.ts, lab-claims.test.ts) only compare: a golden is rewritten here, after a
// deliberate change, and the diff is read before it is committed.
// Usage: node scripts/capture/lab-goldens.mjs [KERNEL...]   (default: every capture)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (m) => import(join(root, 'dist', m));
if (!existsSync(join(root, 'dist/main.js'))) throw new Error('dist/ is missing: npm run build first');
const { graphOfTraceSyn, judgeLab } = await dist('model/lab-claims.js');
const { LAB_SCHEMA_VERSION } = await dist('model/lab.js');
const { HOOKS_SCHEMA_VERSION } = await dist('model/hooks.js');
const { renderTraceSyn } = await dist('render/trace-syn.js');
const { renderLifetimes } = await dist('render/lifetimes.js');
const { renderGraph } = await dist('render/graph.js');
const { renderHooksTable } = await dist('render/hooks-table.js');
const { renderLabHtml, renderLabMarkdown, renderLabText } = await dist('render/lab.js');

const DIR = join(root, 'test/fixtures/lab');
const kernels = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(DIR);
for (const kernel of kernels) {
  const dir = join(DIR, kernel, 'inputs');
  const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));
  const report = {
    schemaVersion: LAB_SCHEMA_VERSION, kernel, target: 'qemu', port: inputs.port, claims: judgeLab(inputs),
    pipeline: { hooks: inputs.plain.hooks, dropAt: inputs.plain.drop ? { hook: inputs.plain.drop.hook, priority: inputs.plain.drop.priority, callback: inputs.plain.drop.callback } : null },
  };
  const hooks = { schemaVersion: HOOKS_SCHEMA_VERSION, kernel, netns: inputs.plain.sandbox.server, backend: 'bpftrace', hooks: inputs.plain.hooks, warnings: [] };
  // What test/unit/render.test.ts and lab-claims.test.ts compare, file by file.
  const files = [
    ['golden/trace-syn.txt', renderTraceSyn(inputs.plain)],
    ['golden/trace-syn-after-confirm.txt', renderTraceSyn(inputs.trick)],
    ['golden/lifetimes.txt', renderLifetimes(inputs.life)],
    ['golden/graph.txt', renderGraph(graphOfTraceSyn(inputs.plain))],
    ['golden/hooks.txt', renderHooksTable(hooks)],
    ['golden/lab.html', renderLabHtml(report)],
    ['lab.txt', renderLabText(report, { explain: true })],
    ['lab.md', renderLabMarkdown(report)],
  ];
  for (const [file, text] of files) {
    const p = join(dir, file);
    const was = existsSync(p) ? readFileSync(p, 'utf8') : null;
    if (was === text) continue;
    writeFileSync(p, text);
    console.log(`${was === null ? 'wrote' : 'rewrote'} ${p.slice(root.length + 1)}`);
  }
}
