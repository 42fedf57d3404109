#!/usr/bin/env node
// bench/follow-memory.mjs - issue 26 benchmark, not a test: peak RSS of `nfscope follow` on a
// port that receives a UDP flood (every datagram dropped by an iptables rule), with and without
// --nftrace, over several runs. Everything happens in two network namespaces this script makes
// (nfst-bm…, a veth between them) and removes again, also on failure or Ctrl-C.
// Peak RSS is the kernel's VmHWM of follow's node process (/proc/PID/status), read every 200 ms
// while it runs (the high-water mark only grows, so the last reading is the peak up to then);
// follow's children (bpftrace, nft, conntrack) are not counted: they are the tools' own memory.
// follow runs under /usr/bin/time -v too, whose maximum RSS (node or any child it waited for,
// whichever is larger) is reported beside it.
// The report also gives the packets follow showed and counted lost, from its summary.
// Usage: node scripts/bench/follow-memory.mjs [--seconds 60] [--runs 3] [--root DIR] [--json]
//        --root: the nfscope checkout whose dist/ is measured (default: this one), so that
//        a build of an older commit can be measured with the same script.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuInfo, spread } from '../lib/bench-stats.mjs';

// Its own mount namespace (private propagation): nfscope mounts tracefs for a run when it is not
// mounted and unmounts it after, and another nfscope run on the machine doing that unmounted it
// under a run of this bench (bpftrace: "tracepoint not found: skb:kfree_skb"). The netns this
// script makes are bound under /run/netns in this namespace too, and go with it.
if (!process.env.NFSCOPE_BENCH_OWN_MNTNS) {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, NFSCOPE_BENCH_OWN_MNTNS: '1' } });
  process.exit(r.status ?? 1);
}

const here = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith('--') ? [...a, [x.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]] : a), []));
const seconds = Number(args.seconds ?? 60);
const runs = Number(args.runs ?? 3);
const root = resolve(String(args.root ?? here));
const modes = String(args.modes ?? 'plain,nftrace').split(',');
const PORT = 2590;
const SRV = '198.19.81.2', CLI = '198.19.81.1';
const tag = randomBytes(3).toString('hex');
const server = `nfst-bms${tag}`, client = `nfst-bmc${tag}`;
const dir = mkdtempSync(join(tmpdir(), 'nfscope-bench-mem-'));
const children = new Set();
/** follow's node under each /usr/bin/time (a getter each): killed with time on teardown, or it would outlive it. */
const nodes = new Set();

function sh(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (ns, argv) => ['ip', 'netns', 'exec', ns, ...argv];

function teardown() {
  // follow undoes its own changes on SIGINT (a terminal's Ctrl-C reaches it too): given up to 15 s
  // for that before anything is killed, so that no journal, table or module of its stays.
  const pids = [...nodes].map((get) => get()).filter(Boolean);
  for (const pid of pids) try { process.kill(pid, 'SIGINT'); } catch { /* gone already */ }
  for (let i = 0; i < 75 && pids.some((pid) => existsSync(`/proc/${pid}`)); i++) spawnSync('sleep', ['0.2']);
  for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ }
  for (const c of children) c.kill('SIGKILL');
  for (const ns of [server, client]) spawnSync('ip', ['netns', 'del', ns], { timeout: 30_000 });
  rmSync(dir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(sig, () => { teardown(); process.exit(130); });

function setup() {
  sh(['ip', 'netns', 'add', server]);
  sh(['ip', 'netns', 'add', client]);
  for (const ns of [server, client]) sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  sh(inNs(client, ['ip', 'link', 'add', 'name', 'bma', 'type', 'veth', 'peer', 'name', 'bmb', 'netns', server]));
  sh(['ip', '-n', client, 'addr', 'add', `${CLI}/30`, 'dev', 'bma']);
  sh(['ip', '-n', client, 'link', 'set', 'bma', 'up']);
  sh(['ip', '-n', server, 'addr', 'add', `${SRV}/30`, 'dev', 'bmb']);
  sh(['ip', '-n', server, 'link', 'set', 'bmb', 'up']);
  // Every datagram dropped in the server's INPUT, and conntrack in use there (the rule needs it).
  sh(inNs(server, ['iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']));
  sh(inNs(server, ['iptables', '-A', 'INPUT', '-p', 'udp', '--dport', String(PORT), '-j', 'DROP']));
}

const hwm = (pid) => {
  try {
    return Number(/^VmHWM:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN; // gone between two readings: the previous reading stands
  }
};

async function once(nftrace, i) {
  const ready = join(dir, `ready-${nftrace ? 'n' : 'p'}${i}`);
  // Under /usr/bin/time -v, as issue 26 measures it: its "Maximum resident set size" is the largest
  // of follow's node and every child it waited for (bpftrace, nft, conntrack), beside node's own VmHWM.
  const followArgv = ['node', join(root, 'dist/main.js'), 'follow', '--netns', server, '--port', String(PORT), ...(nftrace ? ['--nftrace'] : []),
    '--duration', String(seconds + 3600), '--ready-file', ready, '--json'];
  const f = spawn('/usr/bin/time', ['-v', ...followArgv], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(f);
  let peak = 0, last = '', err = '', lines = 0;
  // node is time's only child.
  const nodePid = () => {
    try {
      return Number(readFileSync(`/proc/${f.pid}/task/${f.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || null;
    } catch {
      return null; // time has exited: the last reading stands
    }
  };
  let node = null;
  nodes.add(() => node ?? nodePid());
  const sample = setInterval(() => { node ??= nodePid(); const v = node ? hwm(node) : NaN; if (v > peak) peak = v; }, 200);
  // Only the last line (the summary) is kept: the bench must not be what grows.
  f.stdout.setEncoding('utf8');
  let part = '';
  f.stdout.on('data', (d) => {
    const ls = (part + d).split('\n');
    part = ls.pop();
    lines += ls.length;
    if (ls.length) last = ls[ls.length - 1];
  });
  f.stderr.on('data', (d) => { err = (err + d).slice(-8000); });
  const timeV = () => Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? NaN) / 1024;
  const exited = new Promise((r) => f.on('exit', (code, sig) => r({ code, sig })));
  const t0 = Date.now();
  while (!existsSync(ready)) {
    if (f.exitCode !== null) throw new Error(`follow exited ${f.exitCode} before it was ready: ${err}`);
    if (Date.now() - t0 > 120_000) throw new Error('follow was not ready within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Not spawnSync: the event loop must stay free for Ctrl-C (the teardown) during a long flood.
  const flood = await new Promise((res, rej) => {
    const c = spawn('ip', ['netns', 'exec', client, 'python3', join(here, 'payload/net/udpflood.py'), SRV, String(PORT), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let out = '', e = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (e = (e + d).slice(-4000)));
    const t = setTimeout(() => c.kill('SIGKILL'), (seconds + 60) * 1000);
    c.on('error', rej);
    c.on('close', (status) => { clearTimeout(t); children.delete(c); res({ status, stdout: out, stderr: e }); });
  });
  if (flood.status !== 0) throw new Error(`udpflood: exit ${flood.status}: ${flood.stderr}`);
  const sent = JSON.parse(flood.stdout).sent;
  const tStop = Date.now();
  // To node itself: GNU time ignores SIGINT while its child runs, and passes nothing on.
  node ??= nodePid();
  const signal = (pid, sig) => { try { process.kill(pid, sig); } catch { /* gone already: its exit is read below */ } };
  if (node) signal(node, 'SIGINT'); else f.kill('SIGINT');
  const killer = setTimeout(() => { if (node) signal(node, 'SIGKILL'); f.kill('SIGKILL'); }, 600_000);
  const end = await exited;
  clearTimeout(killer);
  clearInterval(sample);
  children.delete(f);
  let summary = null;
  try {
    summary = JSON.parse(part || last);
  } catch {
    // no summary: follow failed (its exit and stderr are reported below)
  }
  return {
    nftrace, peakMiB: Math.round(peak), timeVMaxRssMiB: Math.round(timeV()), sent, exit: end.code ?? end.sig, stopToExitS: +((Date.now() - tStop) / 1000).toFixed(1), linesOut: lines,
    shown: summary?.packets ?? null, lost: summary?.lost ?? null, dropped: summary?.dropped ?? null,
    ...(summary?.type === 'summary' ? {} : { stderrTail: err.slice(-2000) }),
  };
}

let result;
try {
  setup();
  const all = [];
  // Interleaved: plain, nftrace, plain, nftrace, ... so that a drift in the machine's load hits both.
  for (let i = 0; i < runs; i++) for (const m of modes) all.push(await once(m === 'nftrace', i));
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const commit = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown (no git)';
  result = {
    kernel, root, commit, seconds, runs, cpus: cpuInfo(), node: process.version,
    peakMiB: Object.fromEntries(modes.map((m) => [m, spread(all.filter((r) => r.nftrace === (m === 'nftrace')).map((r) => r.peakMiB))])),
    runsDetail: all,
  };
} finally {
  teardown();
}
if (args.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`kernel ${result.kernel}, ${result.node}, ${result.root} (${result.commit}), ${result.runs} runs of ${result.seconds} s UDP flood, CPUs ${result.cpus.affinity} of ${result.cpus.online}`);
  for (const [m, s] of Object.entries(result.peakMiB)) console.log(`  ${m.padEnd(8)} peak RSS (VmHWM of follow's node) median ${s.median} MiB (min ${s.min}, max ${s.max}, ${s.n} runs)`);
  for (const r of result.runsDetail) console.log(`    ${r.nftrace ? 'nftrace' : 'plain  '} ${r.peakMiB} MiB (/usr/bin/time -v: ${r.timeVMaxRssMiB} MiB), sent ${r.sent}, shown ${r.shown}, lost ${JSON.stringify(r.lost)}, exit ${r.exit} (${r.stopToExitS} s after SIGINT)${r.stderrTail ? `\n      ${r.stderrTail.replace(/\n/g, '\n      ')}` : ''}`);
}
