#!/usr/bin/env node
// bench/ssh-ratio.mjs - issue 15 benchmark, not a test: `trace-syn` and
// `doctor` over ssh (a throwaway sshd on loopback, the one the tests use)
// against the same commands run locally, interleaved round by round in one
// run, as ratios ssh/local with their spread (min, median, max).
// Goal: trace-syn over loopback ssh <= 1.5x local (was 12.8x: a connection per command).
// CPUs: the run is recorded with the CPUs this process may use (taskset -p).
// Usage: node scripts/bench/ssh-ratio.mjs [--rounds 7] [--json]
import { execa } from 'execa';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../lib/sshd.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'dist', 'main.js');
const args = process.argv.slice(2);
const rounds = Number(args.includes('--rounds') ? args[args.indexOf('--rounds') + 1] : 7);
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s.at(-1) };
};

const sshd = await startSshd();
const env = { ...process.env, ...sshd.env };
const COMMANDS = { 'trace-syn': ['trace-syn', '--port', '2571', '--json'], doctor: ['doctor', '--json'] };
const times = Object.fromEntries(Object.keys(COMMANDS).map((k) => [k, { local: [], ssh: [], ratio: [] }]));
try {
  for (let i = 0; i < rounds; i++) {
    for (const [name, argv] of Object.entries(COMMANDS)) {
      const run = async (extra) => {
        const t0 = performance.now();
        const r = await execa('node', [CLI, ...argv, ...extra], { env, reject: false, timeout: 300_000 });
        if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} ${extra.join(' ')}: exit ${r.exitCode}: ${r.stderr.slice(-400)}`);
        return performance.now() - t0;
      };
      // Alternate which goes first, so that a warm cache favours neither.
      const [a, b] = i % 2 ? [await run(['--target', sshd.spec]), await run([])] : [null, null];
      const local = a === null ? await run([]) : b;
      const ssh = a === null ? await run(['--target', sshd.spec]) : a;
      times[name].local.push(local);
      times[name].ssh.push(ssh);
      times[name].ratio.push(ssh / local);
    }
  }
} finally {
  await sshd.stop();
}
const cpus = (await execa('taskset', ['-cp', String(process.pid)], { reject: false })).stdout.split(':').pop()?.trim();
const kernel = (await execa('uname', ['-r'])).stdout;
const result = { kernel, cpus, rounds, ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { localMs: stats(v.local), sshMs: stats(v.ssh), ratio: stats(v.ratio) }])) };
if (args.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`kernel ${kernel}, CPUs ${cpus}, ${rounds} interleaved rounds`);
  for (const k of Object.keys(COMMANDS)) {
    const r = result[k];
    const f = (s) => `${s.median.toFixed(0)} ms (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
    console.log(`${k.padEnd(10)} local ${f(r.localMs)}  ssh ${f(r.sshMs)}  ratio ssh/local median ${r.ratio.median.toFixed(2)} (min ${r.ratio.min.toFixed(2)}, max ${r.ratio.max.toFixed(2)})`);
  }
}
