#!/usr/bin/env node
// bench/parse-fgraph.mjs - issue 5 benchmark, not a test: the streaming
// function_graph parser against plain line counting of the same file, in one
// run, each in its own node process so that each peak RSS is its own.
//   readline  : node:readline over a read stream, counting lines
//   scan      : Buffer.indexOf(10) over 1 MiB chunks, counting lines
//   parse     : FunctionGraphParser + PathAggregate (what `nfscope parse function-graph` does)
// The input is a real capture repeated to --size-mb (default 1100, about 1.06 GB
// counted in MiB... see the printed bytes), written to --file (default /var/tmp).
// Goal (issue 5): parse >= 1.0x readline throughput at <= 150 MB peak RSS.
// Usage: node scripts/bench/parse-fgraph.mjs [--capture FILE] [--size-mb N] [--file PATH] [--keep] [--json]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync, openSync, readFileSync, statSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { cpuInfo, fmtSpread, ratioSpread, spread } from '../lib/bench-stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const capture = opt('capture', join(root, 'test/fixtures/function_graph/6.1.0-56-amd64/two-cpus-interleaved/trace.txt'));
const sizeMb = Number(opt('size-mb', '1024'));
const file = opt('file', '/var/tmp/nfscope-bench-fgraph.txt');

// Build the input: the capture's records repeated (its header once).
const cap = readFileSync(capture);
if (!existsSync(file) || statSync(file).size < sizeMb * 2 ** 20) {
  const fd = openSync(file, 'w');
  let n = 0;
  const target = sizeMb * 2 ** 20;
  const block = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((8 << 20) / cap.length)) }, () => cap));
  while (n < target) n += writeSync(fd, block);
  closeSync(fd);
}
const bytes = statSync(file).size;

const child = {
  readline: `
    const rl = require('node:readline').createInterface({ input: require('node:fs').createReadStream(F, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
    let n = 0; rl.on('line', () => n++); rl.on('close', () => done({ lines: n }));`,
  scan: `
    let n = 0; const s = require('node:fs').createReadStream(F, { highWaterMark: 1 << 20 });
    s.on('data', (b) => { let i = -1; while ((i = b.indexOf(10, i + 1)) >= 0) n++; }); s.on('end', () => done({ lines: n }));`,
  parse: `
    import(P + '/dist/parsers/function-graph.js').then(async ({ FunctionGraphParser, PathAggregate }) => {
      const { feedChunks } = await import(P + '/dist/lib/chunks.js');
      const agg = new PathAggregate();
      const p = new FunctionGraphParser(agg);
      await feedChunks(F, (c) => p.push(c));
      const st = p.end();
      done({ lines: st.lines, records: st.records, roots: agg.roots.reduce((n, r) => n + r.count, 0), paths: agg.size });
    });`,
};

function run(name) {
  const src = `const F = ${JSON.stringify(file)}, P = ${JSON.stringify(root)}; const t0 = process.hrtime.bigint();
    function done(r) { const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(JSON.stringify({ ...r, seconds: s, maxRssMb: process.resourceUsage().maxRSS / 1024 })); }
    ${child[name]}`;
  const r = spawnSync(process.execPath, ['-e', src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  const o = JSON.parse(r.stdout);
  return { ...o, mbPerS: bytes / 2 ** 20 / o.seconds };
}

// Warm the page cache, then measure interleaved.
run('scan');
const rounds = Number(opt('rounds', '3'));
const res = { readline: [], scan: [], parse: [] };
for (let i = 0; i < rounds; i++) for (const k of Object.keys(res)) res[k].push(run(k));
const best = (k) => res[k].reduce((a, b) => (b.seconds < a.seconds ? b : a));
const out = {
  kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  capture, bytes, rounds,
  readline: best('readline'), scan: best('scan'), parse: best('parse'),
};
out.ratioParseVsReadline = out.parse.mbPerS / out.readline.mbPerS;
// Per round: the parse against the readline pass run just before it.
out.ratioPerRound = ratioSpread(res.parse.map((r) => r.mbPerS), res.readline.map((r) => r.mbPerS), 2);
out.parsePeakRssMb = spread(res.parse.map((r) => r.maxRssMb));
out.cpus = cpuInfo();
if (out.parse.lines !== out.readline.lines) throw new Error(`line counts differ: parse ${out.parse.lines}, readline ${out.readline.lines}`);
if (!args.includes('--keep')) unlinkSync(file);
if (args.includes('--json')) console.log(JSON.stringify(out, null, 2));
else {
  console.log(`input: ${(bytes / 1e9).toFixed(2)} GB (${capture} repeated), kernel ${out.kernel}, best of ${rounds}`);
  for (const k of ['readline', 'scan', 'parse']) {
    const r = out[k];
    console.log(`${k.padEnd(9)} ${r.mbPerS.toFixed(0).padStart(6)} MiB/s  ${r.seconds.toFixed(2)} s  peak RSS ${r.maxRssMb.toFixed(0)} MB  lines ${r.lines}`);
  }
  console.log(`parse / readline: ${out.ratioParseVsReadline.toFixed(2)}x best against best; per round ${fmtSpread(out.ratioPerRound)} (goal >= 1.2), parse peak RSS ${out.parsePeakRssMb.max.toFixed(0)} MB at most (goal <= 150); CPUs ${out.cpus.affinity} of ${out.cpus.online}, load ${out.cpus.loadavg.join(' ')}`);
}
