#!/usr/bin/env zx
// bench/hooks.mjs - issue 2 benchmark, not a test: wall time of
//   `nfscope hooks --family all` against a bare `bpftrace -e 'BEGIN { exit(); }'`, warm (the
//   probe cache of this boot filled, lib/boot-cache.ts) and cold (NFSCOPE_PROBE_CACHE=off: every
//   fact probed again, as on a boot's first run)
//   `nfscope --version`          against `node -e 0`
// measured interleaved in one run (so machine noise hits both sides alike),
// reported as medians and ratios. Goal: both ratios <= 2.
// Usage: sudo npx zx scripts/bench/hooks.mjs [--runs N] [--json]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { cpuInfo, fmtSpread, ratioSpread, spread } from '../lib/bench-stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'main.js');
const runs = Number(argv.runs ?? 15);

const cases = {
  bpftraceBare: ['bpftrace', ['-e', 'BEGIN { exit(); }']],
  hooksAll: ['node', [cli, 'hooks', '--family', 'all']],
  hooksCold: ['node', [cli, 'hooks', '--family', 'all'], { NFSCOPE_PROBE_CACHE: 'off' }],
  nodeBare: ['node', ['-e', '0']],
  version: ['node', [cli, '--version']],
};

function once([cmd, args, env = {}]) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const c of Object.values(cases)) once(c); // warm caches
for (let i = 0; i < runs; i++) for (const [k, c] of Object.entries(cases)) samples[k].push(once(c));

const result = {
  kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  runs,
  cpus: cpuInfo(),
  ms: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, spread(v)])),
  // Per run: each pair measured back to back, so a change of load moves both.
  hooksRatio: ratioSpread(samples.hooksAll, samples.bpftraceBare, 2),
  hooksColdRatio: ratioSpread(samples.hooksCold, samples.bpftraceBare, 2),
  versionRatio: ratioSpread(samples.version, samples.nodeBare, 2),
  goal: 2,
};
if (argv.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`kernel ${result.kernel}, ${runs} interleaved runs, CPUs ${result.cpus.affinity} of ${result.cpus.online} (${result.cpus.model}), load ${result.cpus.loadavg.join(' ')}`);
  for (const [k, v] of Object.entries(result.ms)) console.log(`  ${k.padEnd(13)} ${v.median.toFixed(1)} ms (min ${v.min.toFixed(1)}, max ${v.max.toFixed(1)})`);
  console.log(`nfscope hooks --family all / bpftrace BEGIN-exit: ${fmtSpread(result.hooksRatio)} (goal <= 2)`);
  console.log(`  the same, cold (no probe cache):                ${fmtSpread(result.hooksColdRatio)} (goal <= 2)`);
  console.log(`nfscope --version / node -e 0:                   ${fmtSpread(result.versionRatio)} (goal <= 2)`);
}
