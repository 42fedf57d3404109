#!/usr/bin/env node
// capture/article-tools-vm.mjs - run the article's own tools (Cloudflare,
// cloudflare/cloudflare-blog, 2021-03-conntrack-syn-drop/tools/: list-nf-hooks
// and trace-conntrack-prerouting.bt) in the micro-VM, on a real Debian kernel,
// and keep their output as parser fixtures beside nfscope's own drgn helper's
// output of the same namespace:
//   test/fixtures/article/<kernel>/list-nf-hooks/{stdout.txt,nf_hooks.py.jsonl,meta.json}
//   test/fixtures/article/<kernel>/trace-conntrack-prerouting/{stdout.txt,meta.json}
// The tools are not part of nfscope: fetch them yourself and give their folder,
// which must sit under the package (the guest sees the package at /opt/nfscope).
// Needs the kernel's debug info for drgn: `nfscope vm debuginfo [--kernel PKG]`.
// Usage: node scripts/capture/article-tools-vm.mjs TOOLS_DIR_UNDER_PACKAGE [--kernel PKG]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const tools = args[0];
const kernelPackage = args.includes('--kernel') ? args[args.indexOf('--kernel') + 1] : 'linux-image-amd64';
if (!tools) throw new Error('usage: article-tools-vm.mjs TOOLS_DIR_UNDER_PACKAGE [--kernel PKG]');
const rel = relative(root, tools);
if (rel.startsWith('..')) throw new Error(`${tools} is not under ${root}: the guest would not see it`);
const guestTools = join('/opt/nfscope', rel);
const { QemuTarget } = await import(join(root, 'dist/targets/qemu.js'));

const t = await QemuTarget.boot({ kernelPackage, progress: (m) => console.error(m) });
const sh = async (argv, opts) => {
  const r = await t.exec(argv, { timeoutMs: 120_000, ...opts });
  if (r.exitCode !== 0 && !opts?.ok) throw new Error(`${argv.join(' ')}: exit ${r.exitCode}: ${r.stderr}`);
  return r;
};
try {
  const kernel = (await sh(['uname', '-r'])).stdout.trim();
  const drgnV = (await sh(['drgn', '--version'])).stdout.trim();
  const btV = (await sh(['bpftrace', '--version'])).stdout.trim();
  // The article's setup, in the VM's own (initial) namespace: list-nf-hooks reads init_net only.
  const setup = [
    ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2570', '-j', 'DROP'],
    ['iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT'],
  ];
  for (const a of setup) await sh(a);

  // Unchanged, under payload/drgn/compat-run.py: drgn 0.0.22 moved enum_type_to_class (run as is, it fails with ImportError).
  const lnh = await sh(['drgn', '--quiet', '/opt/nfscope/payload/drgn/compat-run.py', join(guestTools, 'list-nf-hooks')]);
  const ours = await sh(['drgn', '--quiet', '/opt/nfscope/payload/drgn/nf_hooks.py', 'self', '3']);
  const dir1 = join(root, 'test/fixtures/article', kernel, 'list-nf-hooks');
  mkdirSync(dir1, { recursive: true });
  writeFileSync(join(dir1, 'stdout.txt'), lnh.stdout);
  writeFileSync(join(dir1, 'nf_hooks.py.jsonl'), ours.stdout);
  writeFileSync(join(dir1, 'meta.json'), JSON.stringify({
    argv: 'drgn --quiet payload/drgn/compat-run.py list-nf-hooks', argvOurs: 'drgn --quiet payload/drgn/nf_hooks.py self 3', tool: drgnV, kernel, kernelPackage,
    target: 'qemu micro-VM (TCG)', captured: new Date().toISOString(), setup: setup.map((a) => a.join(' ')),
    source: 'cloudflare/cloudflare-blog 2021-03-conntrack-syn-drop/tools/list-nf-hooks (run, not copied)',
  }, null, 2) + '\n');

  // A client netns sends SYNs to port 2570 of the VM's own namespace while the script traces.
  const net = [
    ['ip', 'netns', 'add', 'artc'],
    ['ip', 'link', 'add', 'arts', 'type', 'veth', 'peer', 'name', 'artc0', 'netns', 'artc'],
    ['ip', 'addr', 'add', '198.18.70.2/30', 'dev', 'arts'], ['ip', 'link', 'set', 'arts', 'up'],
    ['ip', '-n', 'artc', 'addr', 'add', '198.18.70.1/30', 'dev', 'artc0'], ['ip', '-n', 'artc', 'link', 'set', 'artc0', 'up'],
    ['ip', '-n', 'artc', 'link', 'set', 'lo', 'up'],
  ];
  for (const a of net) await sh(a);
  const tracer = t.spawn(['bpftrace', join(guestTools, 'trace-conntrack-prerouting.bt')], { timeoutMs: 300_000 });
  const lines = [];
  await new Promise((res) => tracer.onLine((l) => { lines.push(l); if (/Hit Ctrl-C/.test(l)) res(); }));
  await sh(['ip', 'netns', 'exec', 'artc', 'python3', '/opt/nfscope/payload/net/syn.py', '198.18.70.2', '2570', '2', '300']);
  await new Promise((r) => setTimeout(r, 1000));
  await tracer.stop(5000);
  const dir2 = join(root, 'test/fixtures/article', kernel, 'trace-conntrack-prerouting');
  mkdirSync(dir2, { recursive: true });
  writeFileSync(join(dir2, 'stdout.txt'), lines.join('\n') + '\n');
  writeFileSync(join(dir2, 'meta.json'), JSON.stringify({
    argv: 'bpftrace trace-conntrack-prerouting.bt', tool: btV, kernel, kernelPackage, target: 'qemu micro-VM (TCG)', captured: new Date().toISOString(),
    setup: [...setup, ...net].map((a) => a.join(' ')).concat('ip netns exec artc python3 payload/net/syn.py 198.18.70.2 2570 2 300'),
    source: 'cloudflare/cloudflare-blog 2021-03-conntrack-syn-drop/tools/trace-conntrack-prerouting.bt (run, not copied)',
  }, null, 2) + '\n');
  console.error(`wrote ${dir1} and ${dir2}`);
} finally {
  await t.close();
}
