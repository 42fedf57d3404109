#!/usr/bin/env node
// bench/lifetimes-rate.mjs - issue 6 benchmark, not a test: packet rate of the
// lifetimes load (a burst of SYNs to a dropped port plus connections to an open
// one, at once, in the sandbox) with and without bpf/ct_life.bt attached, as a
// ratio, rounds interleaved in one run. ct_life.bt needs kprobes, so this runs
// in the micro-VM (qemu TCG here: absolute rates are low; the ratio is the figure).
// Goal: traced/untraced >= 0.95.
// Usage: node scripts/bench/lifetimes-rate.mjs [--kernel PKG] [--syns N] [--connects M] [--rounds R] [--json]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuInfo, fmtSpread, ratioSpread } from '../lib/bench-stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const kernel = opt('kernel', 'linux-image-amd64');
const syns = Number(opt('syns', '2000'));
const connects = Number(opt('connects', '500'));
const rounds = Number(opt('rounds', '5'));

const { QemuTarget } = await import(join(root, 'dist/targets/qemu.js'));
const { withCleanup } = await import(join(root, 'dist/lib/cleanup.js'));
const { createSandbox } = await import(join(root, 'dist/experiments/sandbox.js'));
const { inNetns } = await import(join(root, 'dist/tools/netns.js'));
const { lifetimes } = await import(join(root, 'dist/experiments/lifetimes.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const t = await QemuTarget.boot({ kernelPackage: kernel });
let report;
try {
  report = await withCleanup(async (c) => {
    const sb = await createSandbox(t, c, { family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false });
    const l = t.spawn(inNetns(sb.server, ['python3', join(root, 'payload/net/listen.py'), sb.serverAddr, '2572']));
    c.push('stop listener', async () => { await l.stop(200); });
    await new Promise((r) => l.onLine((x) => x === 'READY' && r()));
    const burst = async (mode, port, n) => {
      const r = await t.exec(inNetns(sb.client, ['python3', join(root, 'payload/net/burst.py'), mode, sb.serverAddr, String(port), String(n)]), { timeoutMs: 600_000 });
      if (r.exitCode !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout);
    };
    // Packets per second of the whole load: both bursts run at once, rate = packets / wall time of the slower.
    const load = async () => {
      const t0 = process.hrtime.bigint();
      const [a, b] = await Promise.all([burst('syn', 2571, syns), burst('connect', 2572, connects)]);
      const guestS = Math.max(a.seconds, b.seconds);
      return { rate: (syns + connects) / guestS, wallS: Number(process.hrtime.bigint() - t0) / 1e9 };
    };
    await load(); // warm-up
    const off = [], on = [];
    let last = null;
    for (let i = 0; i < rounds; i++) {
      off.push((await load()).rate);
      let rate = 0;
      last = await lifetimes(t, { port: null, durationS: 1, netns: { inode: sb.serverInode, label: 'server' } }, () => {}, async () => { rate = (await load()).rate; });
      on.push(rate);
    }
    return {
      kernel: t.vm.kernel.version, syns, connects, rounds,
      untracedPerS: Math.round(median(off)), tracedPerS: Math.round(median(on)), ratio: ratioSpread(on, off), cpus: cpuInfo(),
      samples: { untraced: off.map(Math.round), traced: on.map(Math.round) },
      lastRun: last.counts, lost: last.lost, goal: 0.95,
    };
  });
} finally {
  await t.close();
}
if (args.includes('--json')) console.log(JSON.stringify(report, null, 2));
else {
  console.log(`kernel ${report.kernel} (micro-VM, TCG), ${rounds} interleaved rounds of ${syns} SYNs + ${connects} connections, medians:`);
  console.log(`  untraced ${report.untracedPerS}/s  traced ${report.tracedPerS}/s  ratio ${fmtSpread(report.ratio, 3)} (goal >= 0.95); CPUs ${report.cpus.affinity} of ${report.cpus.online}, load ${report.cpus.loadavg.join(' ')}`);
  console.log(`  last traced run: ${JSON.stringify(report.lastRun)}, lost ${JSON.stringify(report.lost)}`);
}
