#!/usr/bin/env node
// bench/parse-conntrack-memory.mjs - issue 26 benchmark, not a test: peak RSS of
// `nfscope parse conntrack` (text and --json) on a ~32 MiB `conntrack -L -o extended` text made
// from the captured fixture's lines (ports varied per line), measured with /usr/bin/time -v
// (Maximum resident set size), several runs. Output goes to /dev/null.
// Usage: node scripts/bench/parse-conntrack-memory.mjs [--mib 32] [--runs 3] [--root DIR] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spread } from '../lib/bench-stats.mjs';

const here = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith('--') ? [...a, [x.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]] : a), []));
const mib = Number(args.mib ?? 32), runs = Number(args.runs ?? 3);
const root = resolve(String(args.root ?? here));
const dir = mkdtempSync(join(tmpdir(), 'nfscope-bench-ct-'));
try {
  const lines = readFileSync(join(here, 'test/fixtures/conntrack/6.18.44-fc-v657/loopback-flows/extended.txt'), 'utf8').split('\n').filter((l) => /src=/.test(l));
  const parts = [];
  let size = 0;
  // Just under mib MiB: the build before issue 26 refused more than 32 MiB.
  for (let i = 0; ; i++) {
    const l = `${lines[i % lines.length].replace(/sport=\d+/, `sport=${1024 + (i % 60000)}`)}\n`;
    if (size + l.length > mib << 20) break;
    parts.push(l);
    size += l.length;
  }
  const file = join(dir, 'ct.txt');
  writeFileSync(file, parts.join(''));
  const res = {};
  for (const mode of ['text', 'json']) {
    const peaks = [];
    for (let r = 0; r < runs; r++) {
      const p = spawnSync('/usr/bin/time', ['-v', 'node', join(root, 'dist/main.js'), 'parse', 'conntrack', file, ...(mode === 'json' ? ['--json'] : [])], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
      if (p.status !== 0) throw new Error(`exit ${p.status}: ${p.stderr.slice(-2000)}`);
      peaks.push(Math.round(Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(p.stderr)[1]) / 1024));
    }
    res[mode] = spread(peaks);
  }
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const out = { kernel, node: process.version, root, inputMiB: +(size / 1048576).toFixed(1), flows: parts.length, runs, peakRssMiB: res };
  if (args.json) console.log(JSON.stringify(out, null, 2));
  else for (const [m, s] of Object.entries(res)) console.log(`${root}: parse conntrack ${m} of ${out.inputMiB} MiB (${out.flows} flows): peak RSS median ${s.median} MiB (min ${s.min}, max ${s.max}, ${s.n} runs)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
