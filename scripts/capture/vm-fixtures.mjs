#!/usr/bin/env zx
// capture/vm-fixtures.mjs - record real tool output inside the micro-VM as
// parser fixtures: `nft list hooks` and bpf/nf_hooks.bt in the same netns
// (same rules), on one Debian kernel. Writes
//   test/fixtures/nft/<kernel>/<case>/{stdout.txt,meta.json}
//   test/fixtures/bpftrace/<kernel>/<case>/{stdout.jsonl,meta.json}
// Usage: sudo npx zx scripts/capture/vm-fixtures.mjs [--kernel linux-image-6.12-amd64]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { QemuTarget } = await import(join(root, 'dist/targets/qemu.js'));
const kernelPackage = argv.kernel ?? 'linux-image-6.12-amd64';
const caseName = 'conntrack-nft';
const setup = [
  ['ip', 'netns', 'add', 'cap'],
  ['ip', 'netns', 'exec', 'cap', 'iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP'],
  ['ip', 'netns', 'exec', 'cap', 'iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT'],
  ['ip', 'netns', 'exec', 'cap', 'ip6tables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP'],
  ['ip', 'netns', 'exec', 'cap', 'nft', 'add', 'table', 'inet', 'late'],
  ['ip', 'netns', 'exec', 'cap', 'nft', 'add', 'chain', 'inet', 'late', 'in', '{ type filter hook input priority 2147483647; }'],
  ['ip', 'netns', 'exec', 'cap', 'ip', 'link', 'add', 'capa', 'type', 'veth', 'peer', 'name', 'capb'],
  ['ip', 'netns', 'exec', 'cap', 'nft', 'add', 'table', 'netdev', 't'],
  ['ip', 'netns', 'exec', 'cap', 'nft', 'add', 'chain', 'netdev', 't', 'i', '{ type filter hook ingress device capa priority -5; }'],
];
const optional = [['modprobe', 'nfnetlink_hook']]; // absent on Debian 6.1
const t = await QemuTarget.boot({ kernelPackage, progress: (m) => console.error(m) });
try {
  for (const a of setup) {
    const r = await t.exec(a);
    if (r.exitCode !== 0) throw new Error(`${a.join(' ')}: ${r.stderr}`);
  }
  for (const a of optional) await t.exec(a);
  const kernel = t.vm.guestKernel;
  const versions = {
    drgn: null,
    nft: (await t.exec(['nft', '--version'])).stdout.trim(),
    bpftrace: (await t.exec(['bpftrace', '--version'])).stdout.trim(),
  };
  const runs = [
    { tool: 'nft', file: 'stdout.txt', argv: ['nsenter', '--net=/run/netns/cap', 'nft', 'list', 'hooks'] },
    { tool: 'bpftrace', file: 'stdout.jsonl', argv: ['nsenter', '--net=/run/netns/cap', 'bpftrace', '-f', 'json', join(root, 'bpf/nf_hooks.bt'), '31'] },
  ];
  // drgn needs the kernel's DWARF: only when `nfscope vm debuginfo` cached it.
  if ((await t.exec(['test', '-e', `/usr/lib/debug/boot/vmlinux-${t.vm.guestKernel}`])).exitCode === 0) {
    const inode = (await t.exec(['stat', '-L', '-c', '%i', '/run/netns/cap'])).stdout.trim();
    versions.drgn = (await t.exec(['drgn', '--version'])).stdout.trim();
    runs.push({ tool: 'drgn', file: 'stdout.jsonl', argv: ['drgn', '--quiet', join(root, 'payload/drgn/nf_hooks.py'), inode, '31'] });
  }
  for (const r of runs) {
    const out = await t.exec(r.argv, { timeoutMs: 120_000 });
    if (out.exitCode !== 0) throw new Error(`${r.argv.join(' ')}: ${out.stderr}`);
    if (!out.stdout.trim()) {
      console.error(`${r.tool}: no output on ${t.vm.guestKernel} (nft list hooks needs CONFIG_NETFILTER_NETLINK_HOOK): not recorded`);
      continue;
    }
    const dir = join(root, 'test/fixtures', r.tool, kernel, caseName);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, r.file), out.stdout);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({
      argv: r.argv.join(' ').replace(root, '.'), tool: versions[r.tool], kernel, kernelPackage: t.vm.kernel.package,
      target: 'qemu micro-VM (TCG)', captured: new Date().toISOString(),
      setup: setup.map((a) => a.join(' ')),
    }, null, 2) + '\n');
    console.error(`wrote ${dir}`);
  }
} finally {
  await t.close();
}
