#!/usr/bin/env zx
// bench/hooks.mjs - issue 2 benchmark, not a test: wall time of
//   `nfscope hooks --family all` against a bare `bpftrace -e 'BEGIN { exit(); }'`
//   `nfscope --version`          against `node -e 0`
// measured interleaved in one run (so machine noise hits both sides alike),
// reported as medians and ratios. Goal: both ratios <= 2.
// Usage: sudo npx zx scripts/bench/hooks.mjs [--runs N] [--json]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'main.js');
const runs = Number(argv.runs ?? 15);

const cases = {
  bpftraceBare: ['bpftrace', ['-e', 'BEGIN { exit(); }']],
  hooksAll: ['node', [cli, 'hooks', '--family', 'all']],
  nodeBare: ['node', ['-e', '0']],
  version: ['node', [cli, '--version']],
};

function once([cmd, args]) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const c of Object.values(cases)) once(c); // warm caches
for (let i = 0; i < runs; i++) for (const [k, c] of Object.entries(cases)) samples[k].push(once(c));

const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
const result = {
  kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  runs,
  medianMs: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +v.toFixed(1)])),
  hooksRatio: +(m.hooksAll / m.bpftraceBare).toFixed(2),
  versionRatio: +(m.version / m.nodeBare).toFixed(2),
  goal: 2,
};
if (argv.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`kernel ${result.kernel}, ${runs} interleaved runs, medians:`);
  for (const [k, v] of Object.entries(result.medianMs)) console.log(`  ${k.padEnd(13)} ${v} ms`);
  console.log(`nfscope hooks --family all / bpftrace BEGIN-exit: ${result.hooksRatio}x (goal <= 2)`);
  console.log(`nfscope --version / node -e 0:                   ${result.versionRatio}x (goal <= 2)`);
}
