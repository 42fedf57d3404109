#!/usr/bin/env node
// The lab on every kernel of the matrix, in the micro-VM: one table of kernel × claim
// (✔ confirmed, ✘ refuted, — not observable), with boot and lab times (issue 12).
//
// Usage (as root, after the build): scripts/matrix.sh [--kernels 5.10,6.1,6.12,latest] [--scenario NAME[,NAME]|all] [--json] [--capture DIR]
//   --scenario      the lab's scenarios to run on each kernel (`nfscope lab --list`; all: every one,
//                   the article's syn-drop included); default: syn-drop, one row a kernel with its claims
//   --capture DIR   keep each kernel's raw tool outputs as parser fixtures (NFSCOPE_CAPTURE_DIR)
//   --out DIR       keep each kernel's lab JSON and progress log there (default: a private temp dir)
// Exit 0 when every claim on every kernel is confirmed, 1 otherwise.
// Each kernel runs alone: under qemu TCG the two cores are the limit, and times would mix.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def);
const kernels = opt('kernels', '5.10,6.1,6.12,latest').split(',').filter(Boolean);
const json = args.includes('--json');
const ALL = ['syn-drop', 'early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race'];
const scenarioOpt = opt('scenario', null);
const scenarios = scenarioOpt === 'all' ? ALL : (scenarioOpt ?? 'syn-drop').split(',').filter(Boolean);
for (const s of scenarios) if (!ALL.includes(s)) { process.stderr.write(`unknown --scenario ${s}: expected ${ALL.join(', ')} or all\n`); process.exit(2); }
const capture = opt('capture', null);
const out = opt('out', null) ?? mkdtempSync(join(tmpdir(), 'nfscope-matrix-'));
mkdirSync(out, { recursive: true, mode: 0o700 });
const log = (m) => process.stderr.write(`${m}\n`);

// A signal to the matrix goes to the lab it is running, which undoes its changes and ends; then the matrix ends.
let current = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (!current) process.exit(130);
    current.kill(sig);
    current.on('close', () => process.exit(130));
  });
}

function runLab(kernel, scenario) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const env = { ...process.env, ...(capture ? { NFSCOPE_CAPTURE_DIR: capture } : {}) };
    const child = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'lab', '--target', 'qemu', '--kernel', kernel, '--scenario', scenario, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      for (const l of String(d).split('\n').filter(Boolean)) log(`  [${kernel} ${scenario}] ${l}`);
    });
    current = child;
    child.on('close', (code) => {
      current = null;
      resolve({ code, stdout, stderr, wallMs: Date.now() - t0 });
    });
  });
}

const rows = [];
for (const kernel of kernels) for (const scenario of scenarios) {
  log(`== ${scenario} on ${kernel}`);
  const r = await runLab(kernel, scenario);
  const safe = `${kernel}-${scenario}`.replace(/[^A-Za-z0-9.+-]/g, '_');
  writeFileSync(join(out, `${safe}.json`), r.stdout);
  writeFileSync(join(out, `${safe}.log`), r.stderr);
  let report = null;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    /* the run failed before its report: the row says so */
  }
  // "guest ready in 7.6 s" and "[ 9.0 s]" on the same line: boot is the first, everything after it the lab.
  const ready = /\[\s*([\d.]+) s\] guest ready in ([\d.]+) s/.exec(r.stderr);
  const bootS = ready ? Number(ready[2]) : null;
  const labS = ready ? r.wallMs / 1000 - Number(ready[1]) : null;
  rows.push({
    kernel,
    scenario,
    release: report?.kernel ?? null,
    exitCode: r.code,
    bootS,
    labS: labS === null ? null : Math.round(labS * 10) / 10,
    wallS: Math.round(r.wallMs / 100) / 10,
    claims: report?.claims?.map((c) => ({ id: c.id, status: c.status, ...(c.reason ? { reason: c.reason } : {}) })) ?? [],
    error: report ? undefined : r.stderr.trim().split('\n').slice(-3).join(' | '),
  });
}

const ids = [...new Set(rows.flatMap((r) => r.claims.map((c) => c.id)))];
const mark = { confirmed: '✔', refuted: '✘', 'not-observable': '—' };
const allConfirmed = rows.every((r) => r.claims.length > 0 && r.claims.every((c) => c.status === 'confirmed'));
if (json) {
  process.stdout.write(JSON.stringify({ schemaVersion: 2, accel: 'tcg', scenarios, kernels: rows, claims: ids, allConfirmed, outputs: out }, null, 2) + '\n');
} else if (scenarioOpt === null) {
  const head = ['kernel', 'release', ...ids.map((_, i) => `${i + 1}`), 'boot s', 'lab s'];
  const body = rows.map((r) => [r.kernel, r.release ?? `failed: ${r.error}`, ...ids.map((id) => mark[r.claims.find((c) => c.id === id)?.status] ?? '?'), r.bootS ?? '?', r.labS ?? '?'].map(String));
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(width[i])).join('  ');
  process.stdout.write([line(head), ...body.map(line)].join('\n') + '\n');
  process.stdout.write(`claims: ${ids.map((id, i) => `${i + 1} ${id}`).join(', ')}\n✔ confirmed, ✘ refuted, — not observable (why: in ${out}/KERNEL-syn-drop.json)\n`);
} else {
  // Scenarios: one row a kernel and scenario, its claims in their order.
  const head = ['kernel', 'release', 'scenario', 'claims', 'boot s', 'run s'];
  const body = rows.map((r) => [r.kernel, r.release ?? `failed: ${r.error}`, r.scenario, r.claims.map((c) => mark[c.status] ?? '?').join('') || '?', r.bootS ?? '?', r.labS ?? '?'].map(String));
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(width[i])).join('  ');
  process.stdout.write([line(head), ...body.map(line)].join('\n') + '\n');
  process.stdout.write(`✔ confirmed, ✘ refuted, — not observable, in each scenario's order (lab --scenario NAME); why: in ${out}/KERNEL-SCENARIO.json\n`);
}
// Why a claim is not confirmed: after the table, or on stderr beside the JSON (stdout stays one JSON document).
for (const r of rows) for (const c of r.claims.filter((x) => x.status !== 'confirmed')) (json ? process.stderr : process.stdout).write(`${r.kernel} ${c.id}: ${c.status}: ${c.reason ?? ''}\n`);
process.exit(allConfirmed ? 0 : 1);
