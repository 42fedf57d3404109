#!/usr/bin/env zx
// bench/vm-boot.mjs - issue 4 benchmark, not a test: wall time from qemu's
// start to a ready guest agent (the guest can run commands), per kernel, over
// N boots, on this machine (TCG when KVM is unusable). Goal: <= 5 s.
// Usage: sudo npx zx scripts/bench/vm-boot.mjs [--runs 5] [--json]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { QemuTarget } = await import(join(root, 'dist/targets/qemu.js'));
const runs = Number(argv.runs ?? 5);
const kernels = ['linux-image-amd64', 'linux-image-6.12-amd64'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = [];
for (const pkg of kernels) {
  await (await QemuTarget.boot({ kernelPackage: pkg })).close(); // cache warm-up: fetch, unpack, initramfs
  const boots = [];
  let info;
  for (let i = 0; i < runs; i++) {
    const t = await QemuTarget.boot({ kernelPackage: pkg });
    boots.push(t.vm.bootMs);
    const up = (await t.exec(['cat', '/proc/uptime'])).stdout.split(' ')[0];
    info = { kernel: t.vm.guestKernel, accel: t.vm.accel, guestUptimeAtFirstCommand: Number(up) };
    await t.close();
  }
  out.push({ package: pkg, ...info, runs, bootMs: { min: Math.round(Math.min(...boots)), median: Math.round(median(boots)), max: Math.round(Math.max(...boots)) } });
}
if (argv.json) console.log(JSON.stringify(out, null, 2));
else for (const o of out) console.log(`${o.package} (${o.kernel}, ${o.accel}): boot to ready guest min/median/max ${o.bootMs.min}/${o.bootMs.median}/${o.bootMs.max} ms over ${o.runs} boots (goal <= 5000)`);
