#!/usr/bin/env node
// bench/follow-rate.mjs - issue 13 benchmark, not a test: packet rate through a
// sandbox (client and server netns, the article's DROP rule) with `nfscope follow`
// attached and without, interleaved in one run, as ratios per round. Two loads:
//   connect : full connections to an open port (follow --port on it): ordinary traffic;
//   syn     : a burst of SYNs to the dropped port (follow --port on it): every packet
//             is followed and dropped (the worst case).
// follow runs as a user runs it (its output read and counted), with every source the target has:
// kfree_skb and conntrack events, and in the micro-VM the callbacks' kprobes. Each round measures
// follow as it runs by default (paths kept in the kernel) and with --every-packet (one record per
// hook pass), and with --nftrace also follow --nftrace. Goal (issue 30): follow's default keeps
// >= 0.8 of the floor (--floor, below), measured in the same rounds, for both loads.
// --floor adds, per round, the probes alone: empty probes where follow's callback tracer puts
// them (a kprobe on each callback, a kprobe and a kretprobe on nf_hook_slow, kprobe:nf_queue;
// bpftrace, no map, no printf), so the cost of the probe mechanism itself (the ftrace call and
// the return trampoline, emulated under TCG) is measured beside follow's; and the callback
// tracer alone (bpf/follow_cb.bt filled as follow fills it, its output read and dropped), so
// what follow's other sources and its own parsing add is seen apart.
// --paths (with --floor) adds the callback tracer with paths kept in the kernel alone (follow's
// default program, src/programs/follow_cb.ts pathsKeptInKernel), its output read and dropped. --tracers-only leaves follow itself out of the rounds (each start compiles).
// Usage: node scripts/bench/follow-rate.mjs [--count N] [--rounds R] [--vm KERNEL [--concurrent-cpus]] [--floor [--paths]] [--nftrace] [--tracers-only] [--json]
//        --vm runs this very script inside the micro-VM on that kernel (6.1, 6.12, ...); its vCPUs take
//        turns as follow's own VM has them, or with --concurrent-cpus run at once (the README's figures
//        before 2026-12-06).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuInfo, fmtSpread, ratioSpread } from '../lib/bench-stats.mjs';
import { rateSandbox } from '../lib/bench-sandbox.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith('--') ? [...a, [x.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]] : a), []));
const count = Number(args.count ?? 5000);
const rounds = Number(args.rounds ?? 5);

if (args.vm) {
  // The same script in the guest; its JSON comes back on stdout.
  const r = spawnSync('node', [join(root, 'dist/main.js'), 'vm', 'run', '--kernel', String(args.vm), ...(args['concurrent-cpus'] ? ['--concurrent-cpus'] : []), '--', 'node', '/opt/nfscope/scripts/bench/follow-rate.mjs',
    '--count', String(count), '--rounds', String(rounds), ...(args.floor ? ['--floor'] : []), ...(args.paths ? ['--paths'] : []), ...(args.nftrace ? ['--nftrace'] : []), ...(args['tracers-only'] ? ['--tracers-only'] : []), ...(args.json ? ['--json'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
  process.exit(r.status ?? 1);
}

const { LocalTarget } = await import(join(root, 'dist/targets/local.js'));
const { withCleanup } = await import(join(root, 'dist/lib/cleanup.js'));
const port = 2571;
const t = new LocalTarget();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), 'nfscope-bench-'));

const result = await withCleanup(async (c) => {
  c.push('rm bench dir', async () => rmSync(dir, { recursive: true, force: true }));
  const { sb, burst } = await rateSandbox(root, t, c, { port, count, timeoutMs: 900_000 });
  let n = 0;
  const followed = async (mode, fn, extra) => {
    const ready = join(dir, `ready-${n++}`);
    const p = mode === 'syn' ? port : port + 1;
    const f = spawn('node', [join(root, 'dist/main.js'), 'follow', '--netns', sb.server.name, '--port', String(p), ...extra, '--duration', '3600', '--ready-file', ready, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let packets = 0, err = '';
    f.stdout.on('data', (b) => { packets += (String(b).match(/"type":"packet"/g) ?? []).length; });
    f.stderr.on('data', (b) => { err += String(b); });
    const exited = new Promise((r) => f.on('exit', (code) => r(code)));
    c.push('stop follow', async () => { f.kill('SIGINT'); await exited; });
    while (!existsSync(ready)) {
      if (f.exitCode !== null) throw new Error(`follow exited ${f.exitCode}: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const rate = await fn();
    f.kill('SIGINT');
    await exited;
    return { rate, packets };
  };
  // The floor: the callbacks follow would probe (ipv4 and ipv6 hooks of the server's netns, the
  // ones the kernel lets kprobes attach to), each with an empty probe where follow puts its own.
  // Symbol names from the kernel's own listing only.
  let floorProg = null, tracerProg = null, pathsProg = null;
  if (args.floor) {
    const h = spawnSync('node', [join(root, 'dist/main.js'), 'hooks', '--netns', sb.server.name, '--family', 'all', '--json'], { encoding: 'utf8' });
    const traceable = new Set(readFileSync('/sys/kernel/tracing/available_filter_functions', 'utf8').split('\n').map((l) => l.split(' ')[0]));
    const cbs = [...new Set(JSON.parse(h.stdout).hooks.filter((x) => x.family === 'ipv4' || x.family === 'ipv6')
      .flatMap((x) => x.entries.map((e) => e.callback)).filter((c) => /^[A-Za-z_][A-Za-z0-9_.]*$/.test(c) && traceable.has(c)))];
    const queue = traceable.has('nf_queue');
    floorProg = `${cbs.map((c) => `kprobe:${c}`).join(',')}${queue ? ',kprobe:nf_queue' : ''},kprobe:nf_hook_slow { } kretprobe:nf_hook_slow { }`;
    const { fillCallbackProbes } = await import(join(root, 'dist/programs/callback-probes.js'));
    const { fillQueueProbe } = await import(join(root, 'dist/programs/follow_cb.js'));
    const { readTemplate } = await import(join(root, 'dist/programs/templates.js'));
    tracerProg = fillQueueProbe(fillCallbackProbes(await readTemplate('follow_cb'), cbs), queue);
    if (args.paths) pathsProg = (await import(join(root, 'dist/programs/follow_cb.js'))).pathsKeptInKernel(tracerProg);
  }
  const { callbackTracerPoints } = await import(join(root, 'dist/kernel/probe-points.js'));
  const { span } = await callbackTracerPoints(t, '/sys/kernel/tracing');
  // The port follow follows in that mode (followed() above): 2571 for the SYN burst, 2572 for the connections.
  // follow's own filter parameters (programs/follow-filter.ts), then the span: as follow runs it.
  const { followFilterParams } = await import(join(root, 'dist/programs/follow-filter.js'));
  const tracerArgs = (mode) => [String(statSync(`/run/netns/${sb.server.name}`).ino),
    ...followFilterParams({ proto: 'tcp', port: mode === 'syn' ? port : port + 1, host: null, netns: sb.server.name, iface: null }, 0), String(span)];
  const probesOnly = async (fn, prog = floorProg, params = [], fmt = []) => {
    const b = spawn('bpftrace', [...fmt, '-e', prog, ...params], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    const exited = new Promise((r) => b.on('exit', r));
    c.push('stop floor bpftrace', async () => { b.kill('SIGINT'); await exited; });
    await new Promise((resolve, reject) => {
      // The floor says "Attaching N probes"; the tracer (-f json, as follow runs it), READY once its BEGIN ran.
      b.stdout.on('data', (d) => { if (said.length < 8000) said += String(d); if (/Attaching \d+ probes|READY/.test(said)) resolve(); });
      b.stderr.on('data', (d) => { said += String(d); });
      b.on('exit', (code) => reject(new Error(`bpftrace exited ${code}: ${said}`)));
    });
    const rate = await fn();
    b.kill('SIGINT');
    await exited;
    return rate;
  };
  const out = {};
  for (const mode of ['connect', 'syn']) {
    // Interleaved per round: no follow; follow (paths, its default); follow --every-packet; with
    // --nftrace follow --nftrace; then the probes and tracers alone.
    const off = [], deflt = [], every = [], all = [], floor = [], alone = [], paths = [];
    let packets = 0, packetsEvery = 0;
    await burst(mode); // warm-up
    for (let i = 0; i < rounds; i++) {
      off.push(await burst(mode));
      if (!args['tracers-only']) {
        const d = await followed(mode, () => burst(mode), []);
        deflt.push(d.rate);
        packets += d.packets;
        const e = await followed(mode, () => burst(mode), ['--every-packet']);
        every.push(e.rate);
        packetsEvery += e.packets;
        if (args.nftrace) all.push((await followed(mode, () => burst(mode), ['--nftrace'])).rate);
      }
      if (floorProg) floor.push(await probesOnly(() => burst(mode)));
      if (tracerProg) alone.push(await probesOnly(() => burst(mode), tracerProg, tracerArgs(mode), ['-f', 'json']));
      if (pathsProg) paths.push(await probesOnly(() => burst(mode), pathsProg, tracerArgs(mode), ['-f', 'json']));
    }
    out[mode] = {
      plainPerS: Math.round(median(off)),
      ...(args['tracers-only'] ? {} : {
        followPerS: Math.round(median(deflt)), ratioFollow: ratioSpread(deflt, off), packetsReported: packets,
        everyPacketPerS: Math.round(median(every)), ratioEveryPacket: ratioSpread(every, off), packetsReportedEveryPacket: packetsEvery,
        ...(args.nftrace ? { nftracePerS: Math.round(median(all)), ratioNftrace: ratioSpread(all, off) } : {}),
        ...(floorProg ? { followOfFloor: ratioSpread(deflt, floor), everyPacketOfFloor: ratioSpread(every, floor) } : {}),
      }),
      ...(floorProg ? { probesOnlyPerS: Math.round(median(floor)), ratioProbesOnly: ratioSpread(floor, off) } : {}),
      ...(tracerProg ? { callbackTracerPerS: Math.round(median(alone)), ratioCallbackTracer: ratioSpread(alone, off) } : {}),
      // Against the floor measured in the same rounds (issue 30's goal: >= 0.8 of it).
      ...(pathsProg ? { pathsTracerPerS: Math.round(median(paths)), ratioPathsTracer: ratioSpread(paths, off), pathsOfFloor: ratioSpread(paths, floor), tracerOfFloor: ratioSpread(alone, floor) } : {}),
    };
  }
  return out;
});
const kernel = (await t.readFile('/proc/sys/kernel/osrelease')).trim();
const caps = { kprobes: existsSync('/sys/kernel/tracing/kprobe_events') };
const report = { kernel, count, rounds, cpus: cpuInfo(), sources: caps.kprobes ? 'callbacks (kprobes), kfree_skb, conntrack -E' : 'kfree_skb, conntrack -E (no kprobes here)', ...result, goal: { followOfFloor: 0.8 } };
// The issue's shape first (ratios to the plain rate, each {median, min, max} over the rounds), then everything measured.
const brief = (r) => ({ floor: r.ratioProbesOnly ?? null, follow: r.ratioFollow ?? null, everyPacket: r.ratioEveryPacket ?? null, followOfFloor: r.followOfFloor ?? null });
if (args.json) console.log(JSON.stringify({ connect: brief(result.connect), burst: brief(result.syn), report }, null, 2));
else {
  console.log(`kernel ${kernel}, ${rounds} interleaved rounds of ${count}, CPUs ${report.cpus.affinity} of ${report.cpus.online}, follow's sources: ${report.sources}; rates are medians, the ratio is per round:`);
  for (const m of ['connect', 'syn']) {
    const r = report[m];
    if (r.ratioFollow) {
      console.log(`  ${m.padEnd(8)} plain ${r.plainPerS}/s  follow ${r.followPerS}/s  ratio ${fmtSpread(r.ratioFollow, 3)}${r.followOfFloor ? `, of the floor ${fmtSpread(r.followOfFloor, 3)} (goal >= 0.8)` : ''}; ${r.packetsReported} packets reported`);
      console.log(`  ${''.padEnd(8)} --every-packet ${r.everyPacketPerS}/s  ratio ${fmtSpread(r.ratioEveryPacket, 3)}${r.everyPacketOfFloor ? `, of the floor ${fmtSpread(r.everyPacketOfFloor, 3)}` : ''}; ${r.packetsReportedEveryPacket} packets reported`);
      if (r.ratioNftrace) console.log(`  ${''.padEnd(8)} --nftrace ${r.nftracePerS}/s  ratio ${fmtSpread(r.ratioNftrace, 3)}`);
    } else console.log(`  ${m.padEnd(8)} plain ${r.plainPerS}/s (follow itself left out: --tracers-only)`);
    if (r.ratioProbesOnly) console.log(`  ${''.padEnd(8)} empty probes alone ${r.probesOnlyPerS}/s  ratio ${fmtSpread(r.ratioProbesOnly, 3)}`);
    if (r.ratioCallbackTracer) console.log(`  ${''.padEnd(8)} callback tracer alone ${r.callbackTracerPerS}/s  ratio ${fmtSpread(r.ratioCallbackTracer, 3)}`);
    if (r.ratioPathsTracer) console.log(`  ${''.padEnd(8)} paths tracer alone ${r.pathsTracerPerS}/s  ratio ${fmtSpread(r.ratioPathsTracer, 3)}; of the floor ${fmtSpread(r.pathsOfFloor, 3)} (the record-per-pass tracer: ${fmtSpread(r.tracerOfFloor, 3)})`);
  }
}

