#!/usr/bin/env node
// bench/follow-parts.mjs - where follow's cost goes, not a test: the connect loop of follow-rate.mjs
// through the same sandbox, interleaved per round, with nothing attached; with `conntrack -E` as
// follow runs it (its lines read by this node process, as follow reads them), and subscribed to NEW
// and DESTROY only (`-e NEW,DESTROY`); with the drop tracer
// alone (bpf/follow_drop.bt as follow fills it); and with `nfscope follow` itself. Ratios to the
// plain rate, per round. Run it where the tracers can attach (the micro-VM:
// `nfscope vm run --kernel 6.1 -- node /opt/nfscope/scripts/bench/follow-parts.mjs --count 500 --rounds 3`).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuInfo, fmtSpread, ratioSpread } from '../lib/bench-stats.mjs';
import { rateSandbox } from '../lib/bench-sandbox.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith('--') ? [...a, [x.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]] : a), []));
const count = Number(args.count ?? 500);
const rounds = Number(args.rounds ?? 3);
const { LocalTarget } = await import(join(root, 'dist/targets/local.js'));
const { withCleanup } = await import(join(root, 'dist/lib/cleanup.js'));
const { inNetns } = await import(join(root, 'dist/tools/netns.js'));
const t = new LocalTarget();
const port = 2571;
const dir = mkdtempSync(join(tmpdir(), 'nfscope-bench-'));

/** A process running beside the load: started, awaited until `ready` says so (bounded), stopped with SIGINT. */
async function beside(c, argv, ready, fn) {
  const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '', lines = 0;
  const exited = new Promise((r) => p.on('exit', r));
  c.push(`stop ${argv[0]}`, async () => { p.kill('SIGINT'); await exited; });
  p.stdout.on('data', (b) => { const s = String(b); lines += s.split('\n').length - 1; if (said.length < 4000) said += s; });
  p.stderr.on('data', (b) => { if (said.length < 4000) said += String(b); });
  const end = Date.now() + 300_000;
  while (!ready(said)) {
    if (p.exitCode !== null) throw new Error(`${argv.join(' ')} exited ${p.exitCode}: ${said}`);
    if (Date.now() > end) throw new Error(`${argv.join(' ')}: not ready in 300 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const rate = await fn();
  p.kill('SIGINT');
  await exited;
  return { rate, lines };
}

const result = await withCleanup(async (c) => {
  c.push('rm bench dir', async () => rmSync(dir, { recursive: true, force: true }));
  const { sb, burst } = await rateSandbox(root, t, c, { port, count, timeoutMs: 900_000 });
  const connect = () => burst('connect');
  const { followDropProgram } = await import(join(root, 'dist/programs/follow_drop.js'));
  const { readTemplate } = await import(join(root, 'dist/programs/templates.js'));
  const inode = String(statSync(`/run/netns/${sb.server.name}`).ino);
  const drop = followDropProgram(await readTemplate('follow_drop'), { inode, filter: { proto: 'tcp', port: port + 1, host: null, netns: sb.server.name, iface: null }, ifindex: 0 });
  const off = [], ct = [], ctNd = [], dr = [], fo = [];
  let ctLines = 0, ctNdLines = 0;
  await connect(); // warm-up
  for (let i = 0; i < rounds; i++) {
    off.push(await connect());
    const x = await beside(c, inNetns(sb.server, ['conntrack', '-E', '-o', 'timestamp,id', '-p', 'tcp']), () => true, async () => { await new Promise((r) => setTimeout(r, 300)); return connect(); });
    ct.push(x.rate);
    ctLines += x.lines;
    // Only NEW and DESTROY subscribed: ctnetlink builds no UPDATE message without a listener for it.
    const y = await beside(c, inNetns(sb.server, ['conntrack', '-E', '-e', 'NEW,DESTROY', '-o', 'timestamp,id', '-p', 'tcp']), () => true, async () => { await new Promise((r) => setTimeout(r, 300)); return connect(); });
    ctNd.push(y.rate);
    ctNdLines += y.lines;
    dr.push((await beside(c, ['bpftrace', '-f', 'json', '-e', drop.text, ...drop.params], (s) => s.includes('READY') || s.includes('Attaching'), connect)).rate);
    const ready = join(dir, `ready-${i}`);
    fo.push((await beside(c, ['node', join(root, 'dist/main.js'), 'follow', '--netns', sb.server.name, '--port', String(port + 1), '--duration', '3600', '--ready-file', ready, '--json'], () => existsSync(ready), connect)).rate);
  }
  return { plainPerS: Math.round([...off].sort((a, b) => a - b)[Math.floor(off.length / 2)]), conntrackE: ratioSpread(ct, off), conntrackLines: ctLines, conntrackNewDestroy: ratioSpread(ctNd, off), conntrackNewDestroyLines: ctNdLines, dropTracer: ratioSpread(dr, off), follow: ratioSpread(fo, off) };
});
const kernel = (await t.readFile('/proc/sys/kernel/osrelease')).trim();
const report = { kernel, count, rounds, cpus: cpuInfo(), connect: result };
if (args.json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(`kernel ${kernel}, ${rounds} interleaved rounds of ${count} connections, CPUs ${report.cpus.affinity} of ${report.cpus.online}; plain ${result.plainPerS}/s; ratios to plain per round:`);
  console.log(`  conntrack -E (read by node) ${fmtSpread(result.conntrackE, 3)} (${result.conntrackLines} event lines)`);
  console.log(`  conntrack -E -e NEW,DESTROY ${fmtSpread(result.conntrackNewDestroy, 3)} (${result.conntrackNewDestroyLines} event lines)`);
  console.log(`  drop tracer alone           ${fmtSpread(result.dropTracer, 3)}`);
  console.log(`  nfscope follow              ${fmtSpread(result.follow, 3)}`);
}
