#!/usr/bin/env zx
// bench/lab.mjs - issue 14 benchmark, not a test: the lab's wall time in the
// micro-VM, per step, against a unit measured in the same run: one VM boot
// plus one bpftrace start (`nfscope vm run -- bpftrace -e 'BEGIN { exit(); }'`).
// Rounds are interleaved (unit, lab, unit, lab, ...) so that a change in the
// machine's load moves both. Prints min/median/max of each figure and of the
// ratio lab/unit, and the CPUs the run had.
// Goal (issue 14): lab <= 90 s on 6.1 under TCG, about 10x the unit.
// Usage: sudo npx zx scripts/bench/lab.mjs [--rounds 3] [--kernel linux-image-amd64] [--json]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg, cpus } from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const main = join(root, 'dist/main.js');
const rounds = Number(argv.rounds ?? 3);
const kernel = String(argv.kernel ?? 'linux-image-amd64');
$.verbose = false;

const spread = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};
const fmt = (o, d = 1) => `${o.min.toFixed(d)}/${o.median.toFixed(d)}/${o.max.toFixed(d)}`;

async function unit() {
  const t0 = performance.now();
  await $`node ${main} vm run --kernel ${kernel} -- bpftrace -e ${'BEGIN { exit(); }'}`;
  return (performance.now() - t0) / 1000;
}

/** The lab's own progress lines carry the elapsed time: "[ 12.3 s] step 2/5: ...". */
async function lab() {
  const t0 = performance.now();
  const p = await $`node ${main} lab --target qemu --kernel ${kernel} --json`.nothrow();
  const total = (performance.now() - t0) / 1000;
  if (p.exitCode !== 0) throw new Error(`lab exited ${p.exitCode}:\n${p.stderr.slice(-3000)}`);
  const report = JSON.parse(p.stdout);
  const marks = [...p.stderr.matchAll(/^\[\s*([\d.]+) s\] (step \d\/\d|booting|[^\n]*ready)[^\n]*$/gm)].map((m) => ({ at: Number(m[1]), what: m[2] }));
  const steps = {};
  for (let i = 0; i < marks.length; i++) steps[marks[i].what] = (marks[i + 1]?.at ?? total) - marks[i].at;
  return { total, steps, kernel: report.kernel, claims: report.claims.map((c) => `${c.id}: ${c.status}`), stderr: p.stderr };
}

const units = [];
const labs = [];
for (let r = 0; r < rounds; r++) {
  units.push(await unit());
  labs.push(await lab());
  process.stderr.write(`round ${r + 1}/${rounds}: unit ${units.at(-1).toFixed(1)} s, lab ${labs.at(-1).total.toFixed(1)} s\n`);
}
const ratios = labs.map((l, i) => l.total / units[i]);
const stepNames = [...new Set(labs.flatMap((l) => Object.keys(l.steps)))];
const out = {
  kernel: labs[0].kernel,
  package: kernel,
  rounds,
  cpus: { count: availableParallelism(), model: cpus()[0]?.model, loadavgAtEnd: loadavg() },
  unitS: spread(units),
  labS: spread(labs.map((l) => l.total)),
  ratio: spread(ratios),
  stepsS: Object.fromEntries(stepNames.map((s) => [s, spread(labs.map((l) => l.steps[s] ?? 0))])),
  claims: labs.map((l) => l.claims),
};
if (argv.json) console.log(JSON.stringify(out, null, 2));
else {
  console.log(`lab on ${out.kernel} (${kernel}), ${rounds} interleaved rounds, ${out.cpus.count} CPUs (${out.cpus.model}), TCG`);
  console.log(`  unit (VM boot + one bpftrace start) min/median/max: ${fmt(out.unitS)} s`);
  console.log(`  lab                                 min/median/max: ${fmt(out.labS)} s (goal <= 90)`);
  console.log(`  ratio lab/unit                      min/median/max: ${fmt(out.ratio, 2)}`);
  for (const [s, v] of Object.entries(out.stepsS)) console.log(`    ${s.padEnd(12)} ${fmt(v)} s`);
  for (const c of out.claims[out.claims.length - 1]) console.log(`  ${c}`);
}
if (argv.log) console.error(labs.map((l) => l.stderr).join('\n----\n'));
