#!/usr/bin/env zx
// bench/trace-syn-rate.mjs - issue 3 benchmark, not a test: packet rate through
// the trace-syn sandbox with and without nfscope's probe attached, as a ratio,
// interleaved in one run. On this host the probe is bpf/kfree_skb_syn.bt (the
// tracepoint trace-syn uses when there are no kprobes). Two loads:
//   syn     : a burst of SYNs to the dropped port: every packet hits the probe's
//             filter and is reported (the worst case);
//   connect : full connections to an open port next to it (ordinary traffic).
// Goal: traced/untraced >= 0.97.
// Usage: sudo npx zx scripts/bench/trace-syn-rate.mjs [--count 20000] [--rounds 5] [--json]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuInfo, fmtSpread, ratioSpread } from '../lib/bench-stats.mjs';
import { rateSandbox } from '../lib/bench-sandbox.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { LocalTarget } = await import(join(root, 'dist/targets/local.js'));
const { withCleanup } = await import(join(root, 'dist/lib/cleanup.js'));
const { ensureTracefs } = await import(join(root, 'dist/tools/tracefs.js'));

const count = Number(argv.count ?? 20000);
const rounds = Number(argv.rounds ?? 5);
const port = 2571;
const t = new LocalTarget();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const result = await withCleanup(async (c) => {
  await ensureTracefs(t, c);
  const { sb, burst } = await rateSandbox(root, t, c, { port, count });
  const traced = async (fn) => {
    const tr = t.spawn(['bpftrace', '-f', 'json', join(root, 'bpf/kfree_skb_syn.bt'), String(port), sb.serverInode]);
    c.push('stop tracer', async () => { await tr.stop(); });
    await Promise.race([
      new Promise((r) => tr.onLine((l) => l.includes('READY') && r())),
      tr.done.then((x) => { throw new Error(`bpftrace exited: ${x.stderr}`); }),
    ]);
    const rate = await fn();
    const out = await tr.stop();
    const events = out.stdout.split('\n').filter((l) => l.includes('"K ')).length;
    return { rate, events };
  };
  const out = {};
  for (const mode of ['syn', 'connect']) {
    const off = [], on = [];
    let events = 0;
    await burst(mode); // warm-up
    for (let i = 0; i < rounds; i++) {
      off.push(await burst(mode));
      const r = await traced(() => burst(mode));
      on.push(r.rate);
      events += r.events;
    }
    out[mode] = { untracedPerS: Math.round(median(off)), tracedPerS: Math.round(median(on)), ratio: ratioSpread(on, off), eventsReported: events };
  }
  return out;
});
const kernel = (await t.readFile('/proc/sys/kernel/osrelease')).trim();
const report = { kernel, count, rounds, cpus: cpuInfo(), probe: 'bpf/kfree_skb_syn.bt (skb:kfree_skb)', ...result, goal: 0.97 };
if (argv.json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(`kernel ${kernel}, ${rounds} interleaved rounds of ${count}, CPUs ${report.cpus.affinity} of ${report.cpus.online} (${report.cpus.model}), load ${report.cpus.loadavg.join(' ')}; rates are medians, the ratio is per round:`);
  for (const m of ['syn', 'connect']) {
    const r = report[m];
    console.log(`  ${m.padEnd(8)} untraced ${r.untracedPerS}/s  traced ${r.tracedPerS}/s  ratio ${fmtSpread(r.ratio, 3)} (goal >= 0.97; ${r.eventsReported} drops reported)`);
  }
}
