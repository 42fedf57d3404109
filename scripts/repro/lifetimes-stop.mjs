#!/usr/bin/env node
// repro/lifetimes-stop.mjs - not a test: the lifetime tracer under the suite's load (500 SYNs to a
// dropped port, 150 connections to an open one, lifetimes.vm.test.ts), ROUNDS times in one VM.
// Does bpftrace print its maps and exit within the grace after SIGINT? 20 s into a stop, the
// guest's view of the tracer is written to DIR: its tasks' kernel stacks, wchan, state, and the
// tail of dmesg: the evidence a stop that never ends leaves.
// BOOT fresh: a VM booted for each round, as the test does; once: one VM for all rounds.
// Usage: node scripts/repro/lifetimes-stop.mjs [PACKAGE] [ROUNDS] [multi|single] [DIR] [fresh|once]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdirSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { QemuTarget } = await import(join(root, 'dist/targets/qemu.js'));
const { withCleanup } = await import(join(root, 'dist/lib/cleanup.js'));
const { createSandbox } = await import(join(root, 'dist/experiments/sandbox.js'));
const { lifetimes } = await import(join(root, 'dist/experiments/lifetimes.js'));
const { inNetns } = await import(join(root, 'dist/tools/netns.js'));
const pkg = process.argv[2] ?? 'linux-image-6.1.0-57-amd64';
const rounds = Number(process.argv[3] ?? 10);
const mode = process.argv[4] ?? 'single';
const dir = process.argv[5] ?? '/tmp/lifetimes-stop';
const fresh = (process.argv[6] ?? 'once') === 'fresh';
mkdirSync(dir, { recursive: true });
const snapshot = `
for p in $(pgrep -x bpftrace); do
  echo "== bpftrace $p: $(cat /proc/$p/stat | cut -d' ' -f3) wchan=$(cat /proc/$p/wchan)"
  for t in /proc/$p/task/*; do echo "-- task $t $(cat $t/comm) $(cut -d' ' -f3 $t/stat) wchan=$(cat $t/wchan)"; cat $t/stack; done
done
echo "== load"; cat /proc/loadavg; ps -eo pid,stat,pcpu,time,comm | awk '$3 > 1 || $2 ~ /D/'
echo "== dmesg"; dmesg | tail -40
`;
const boot = async () => {
  const vm = await QemuTarget.boot({ kernelPackage: pkg, concurrentCpus: mode === 'multi', progress: () => {} });
  console.log(`booted ${vm.vm.guestKernel}, ${mode}`);
  return vm;
};
let t = await boot();
try {
  for (let i = 0; i < rounds; i++) {
    if (fresh && i > 0) {
      await t.close();
      t = await boot();
    }
    const t0 = Date.now();
    let timer;
    try {
      const rep = await withCleanup(async (c) => {
        const sb = await createSandbox(t, c, { family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false });
        const l = t.spawn(inNetns(sb.server, ['python3', await t.bundled('payload/net/listen.py'), sb.serverAddr, '2572']));
        c.push('stop listener', async () => { await l.stop(200); });
        await new Promise((r) => l.onLine((x) => x === 'READY' && r()));
        const burst = async (m, p, n) => {
          const r = await t.exec(inNetns(sb.client, ['python3', await t.bundled('payload/net/burst.py'), m, sb.serverAddr, String(p), String(n)]));
          if (r.exitCode !== 0) throw new Error(`burst ${m}: ${r.stderr}`);
        };
        return lifetimes(t, { port: 2571, durationS: 1, netns: { inode: sb.serverInode, label: 'server' } }, () => {}, async () => {
          await Promise.all([burst('syn', 2571, 500), burst('connect', 2572, 150)]);
          const stopAt = Date.now() + 300;
          timer = setTimeout(async () => {
            const r = await t.exec(['sh', '-c', snapshot], { timeoutMs: 60_000 });
            const f = join(dir, `round-${i}-at-20s.txt`);
            writeFileSync(f, `${r.stdout}\n--stderr--\n${r.stderr}\nexit ${r.exitCode}\n`);
            console.log(`round ${i}: still stopping 20 s after SIGINT; guest snapshot in ${f}`);
          }, stopAt - Date.now() + 20_000);
        });
      });
      console.log(JSON.stringify({ round: i, ok: true, s: (Date.now() - t0) / 1000, counts: rep.counts }));
    } catch (e) {
      console.log(JSON.stringify({ round: i, ok: false, s: (Date.now() - t0) / 1000, why: String(e.message).split('\n').slice(0, 6).join(' | ') }));
    } finally {
      clearTimeout(timer);
    }
  }
} finally {
  await t.close();
}
