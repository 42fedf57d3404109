#!/usr/bin/env node
// capture/hook-server.mjs - fixtures for parsers/hook-addresses.ts from a real
// run: the hook listing server's raw answer (callbacks as addresses) for a
// netns with a conntrack rule, and /proc/kallsyms lines for those addresses,
// read right after. Target: the VM left up by `nfscope vm up` (default) or
// the host (--local). Writes test/fixtures/hook-server/<kernel>/.
// Usage: node scripts/capture/hook-server.mjs [--local]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { openTarget } = await import(join(root, 'dist/targets/index.js'));
const { withCleanup } = await import(join(root, 'dist/lib/cleanup.js'));
const { ensureTracefs } = await import(join(root, 'dist/tools/tracefs.js'));
const { createSandbox } = await import(join(root, 'dist/experiments/sandbox.js'));
const { HookServer } = await import(join(root, 'dist/backends/hook-server.js'));
const { hookAddresses } = await import(join(root, 'dist/parsers/hook-addresses.js'));

const t = await openTarget(process.argv.includes('--local') ? 'local' : 'qemu', {});
try {
  await withCleanup(async (c) => {
    await ensureTracefs(t, c);
    const sb = await createSandbox(t, c, { family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false });
    const bpftrace = (await t.which('bpftrace'));
    const server = await HookServer.start(t, c, bpftrace, (await t.which('python3')), ['ipv4', 'ipv6']);
    // The raw lines, before naming: reach into the server's buffer through a listing of our own.
    const before = server.lines.length;
    const listed = await server.list(sb.server, ['ipv4']);
    const raw = server.lines.slice(before).filter((l) => !/^[BZ] /.test(l));
    const addrs = hookAddresses(raw);
    const ks = await t.exec(['grep', '-E', `^0*(${addrs.join('|')}) `, '/proc/kallsyms']);
    const kernel = (await t.readFile('/proc/sys/kernel/osrelease')).trim();
    const dir = join(root, 'test/fixtures/hook-server', kernel);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'answer.txt'), raw.join('\n') + '\n');
    writeFileSync(join(dir, 'kallsyms.txt'), ks.stdout);
    writeFileSync(join(dir, 'expected.json'), JSON.stringify(listed.hooks, null, 2) + '\n');
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({
      argv: 'bpftrace -f json -e <bpf/nf_hooks.bt as a listing server, families ipv4+ipv6>; request: ip netns exec <sandbox server> python3 payload/hooks-request.py ID 1',
      kallsyms: `grep -E '^0*(<addresses>) ' /proc/kallsyms`,
      tool: (await t.exec([bpftrace, '--version'])).stdout.trim(),
      kernel, target: t.name,
      setup: 'a sandbox server netns with iptables -A INPUT -p tcp --dport 2571 -j DROP and -m conntrack ESTABLISHED,RELATED (nfscope sandbox)',
      'expected.json': 'the parsed, named listing nfscope made of it in the same run',
    }, null, 2) + '\n');
    console.log(`wrote ${dir}: ${raw.length} lines, ${addrs.length} addresses`);
  }, t);
} finally {
  await t.close();
}
