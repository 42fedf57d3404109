#!/usr/bin/env node
// repro/tcg-text-poke.mjs - not a test: does the micro-VM's guest kernel survive live text
// patching while its other vCPU runs the patched code? Every static key flip (a tracepoint
// enabled, bpftrace attaching, sched_clock marked stable at boot) is an x86 text_poke_bp():
// int3 first, IPIs, then the new bytes. The guest toggles every sched tracepoint ROUNDS times
// on vCPU 0 while vCPU 1 forks and switches (running those very sites), and says whether it
// lived. MODE multi: a host thread per vCPU (what nfscope asks for only when a run needs two CPUs
// at once), single: the vCPUs take turns (its default under TCG; vm/qemu-argv.ts).
// Found on qemu 7.2.22 (Debian 12): multi, 6.12.118+deb12 died of an int3 oops within 20-50 rounds,
// 6.1.0-57 hung once in 4 boots of 60; single, 6.12 lived through 3 boots of 300.
// Usage: node scripts/repro/tcg-text-poke.mjs [PACKAGE] [BOOTS] [ROUNDS] [multi|single]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { QemuTarget } = await import(join(root, 'dist/targets/qemu.js'));
const pkg = process.argv[2] ?? 'linux-image-6.12-amd64';
const boots = Number(process.argv[3] ?? 3);
const rounds = Number(process.argv[4] ?? 300);
const mode = process.argv[5] ?? 'multi';
if (!['multi', 'single'].includes(mode)) throw new Error(`mode: multi or single, not ${mode}`);
const script = `
set -e
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
taskset -c 1 sh -c 'while :; do /bin/true; done' &
busy=$!
e=/sys/kernel/tracing/events/sched/enable
i=0
while [ $i -lt ${rounds} ]; do echo 1 > $e; echo 0 > $e; i=$((i+1)); done
kill $busy
echo "toggled ${rounds}"
`;
const results = [];
for (let b = 0; b < boots; b++) {
  const t0 = Date.now();
  let t;
  try {
    t = await QemuTarget.boot({ kernelPackage: pkg, concurrentCpus: mode === 'multi', progress: () => {} });
  } catch (e) {
    results.push({ boot: b, outcome: 'boot failed', why: String(e.message).split('\n')[0] });
    console.log(JSON.stringify(results.at(-1)));
    continue;
  }
  try {
    const r = await t.exec(['taskset', '-c', '0', 'sh', '-c', script], { timeoutMs: 600_000 });
    results.push({ boot: b, kernel: t.vm.guestKernel, mode, outcome: r.stdout.trim() || `exit ${r.exitCode ?? r.signal}: ${r.stderr.trim().slice(-300)}`, seconds: (Date.now() - t0) / 1000 });
  } catch (e) {
    results.push({ boot: b, outcome: 'guest died', why: String(e.message).split('\n').slice(0, 2).join(' | ') });
  } finally {
    await t.close().catch((e) => console.error(`close: ${e.message}`)); // reported, the loop goes on
  }
  console.log(JSON.stringify(results.at(-1)));
}
