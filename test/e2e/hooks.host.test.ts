/**
 * nfscope hooks against this machine's real kernel: a fresh netns, rules
 * applied step by step, the exact listing asserted after each step.
 * Needs root, bpftrace and a BTF kernel (the dev and CI machines: 6.18).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { describe, expect, it } from 'vitest';
import { inNs, netnsPerTest, nfscope, ROOT } from '../helpers/sys.js';
import { confirmCallback, iptablesCallback } from '../helpers/kernel-names.js';
import { btfHasName, kernelHasSymbol } from '../helpers/kernel-facts.js';
import { expectSchema } from '../helpers/schema.js';

type Listing = Record<string, [number, string][]>;

/**
 * Whether bpftrace can name nf_tables chains here: struct nft_chain in vmlinux's BTF (nf_tables
 * built in; bpftrace 0.17 reads no module BTF from a BEGIN probe) and nf_tables in kallsyms.
 */
const chainsNamed = btfHasName('nft_chain') && kernelHasSymbol('nft_do_chain');
/** x_tables built in (its struct in vmlinux BTF), with the 5.16+ table walkers. */
const xtNamed = () => btfHasName('xt_table') && kernelHasSymbol('ipt_do_table') && !existsSync('/sys/kernel/btf/x_tables');

/** `nfscope hooks --json` → {"ipv4 LOCAL_IN": [[0, "nft_do_chain_ipv4"], ...]}. */
async function listing(ns: string, family: string): Promise<Listing> {
  const r = await nfscope(['hooks', '--netns', ns, '--family', family, '--backend', 'bpftrace', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  const rep = JSON.parse(r.stdout);
  expectSchema('hooks', rep);
  expect(rep.schemaVersion).toBe(1);
  expect(rep.backend).toBe('bpftrace');
  expect(rep.netns).toBe(ns);
  const out: Listing = {};
  for (const h of rep.hooks) {
    out[`${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''}`] = h.entries.map(
      (e: { priority: number; callback: string }) => [e.priority, e.callback],
    );
  }
  return out;
}

const MAX = 2147483647;
// Seen on 6.18: the ipv6 confirm hook at LOCAL_IN sits at NF_IP6_PRI_LAST - 1
// (2147483646; POST_ROUTING keeps INT_MAX), so at ipv6 LOCAL_IN a priority-MAX chain runs after confirm whatever the order.
const fams = [
  { family: 'ipv4', ipt: 'iptables', v: '4', defrag: 'ipv4_conntrack_defrag', ctIn: 'ipv4_conntrack_in', ctLocal: 'ipv4_conntrack_local', nftFamily: 'ip', confirm: MAX },
  { family: 'ipv6', ipt: 'ip6tables', v: '6', defrag: 'ipv6_defrag', ctIn: 'ipv6_conntrack_in', ctLocal: 'ipv6_conntrack_local', nftFamily: 'ip6', confirm: MAX - 1 },
] as const;

// Each test's netns go, and then nothing of the test's may be left.
const { fresh } = netnsPerTest();

describe.each(fams)('hooks step by step, $family', (f) => {
  it('no rules → DROP rule → conntrack rule: exact listings', async () => {
    const n = await fresh();
    expect(await listing(n, f.family)).toEqual({});

    await inNs(n, [f.ipt, '-A', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP']);
    const fn = await iptablesCallback(f.v); // iptables-nft registers an nft base chain
    const confirm = confirmCallback(f.v);
    expect(await listing(n, f.family)).toEqual({ [`${f.family} LOCAL_IN`]: [[0, fn]] });

    await inNs(n, [f.ipt, '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT']);
    expect(await listing(n, f.family)).toEqual({
      [`${f.family} PRE_ROUTING`]: [[-400, f.defrag], [-200, f.ctIn]],
      [`${f.family} LOCAL_IN`]: [[0, fn], [f.confirm, confirm]],
      [`${f.family} LOCAL_OUT`]: [[-400, f.defrag], [-200, f.ctLocal]],
      [`${f.family} POST_ROUTING`]: [[MAX, confirm]],
    });
  });

  it('a priority-MAX drop chain registered before conntrack runs after confirm', async () => {
    const n = await fresh();
    await inNs(n, ['nft', 'add', 'table', f.nftFamily, 'late']);
    await inNs(n, ['nft', 'add', 'chain', f.nftFamily, 'late', 'in', `{ type filter hook input priority ${MAX}; }`]);
    await inNs(n, ['nft', 'add', 'rule', f.nftFamily, 'late', 'in', 'tcp', 'dport', '2571', 'drop']);
    const fn = `nft_do_chain_ipv${f.v}`;
    expect((await listing(n, f.family))[`${f.family} LOCAL_IN`]).toEqual([[MAX, fn]]);
    // Now conntrack registers (lazily, per netns): its confirm hook, later, runs first.
    await inNs(n, ['nft', 'add', 'table', f.nftFamily, 'ctt']);
    await inNs(n, ['nft', 'add', 'chain', f.nftFamily, 'ctt', 'pre', '{ type filter hook prerouting priority 0; }']);
    await inNs(n, ['nft', 'add', 'rule', f.nftFamily, 'ctt', 'pre', 'ct', 'state', 'new', 'counter']);
    const l = await listing(n, f.family);
    expect(l[`${f.family} LOCAL_IN`]).toEqual([[f.confirm, confirmCallback(f.v)], [MAX, fn]]);
    expect(l[`${f.family} PRE_ROUTING`]).toEqual([[-400, f.defrag], [-200, f.ctIn], [0, fn]]);
  });
});

describe('netdev hooks and families', () => {
  it('lists ingress/egress chains per device, and arp/bridge when asked', async () => {
    const n = await fresh();
    await inNs(n, ['ip', 'link', 'add', 'nfsa', 'type', 'veth', 'peer', 'name', 'nfsb']);
    await inNs(n, ['nft', 'add', 'table', 'netdev', 't']);
    await inNs(n, ['nft', 'add', 'chain', 'netdev', 't', 'i', '{ type filter hook ingress device nfsa priority -5; }']);
    await inNs(n, ['nft', 'add', 'chain', 'netdev', 't', 'e', '{ type filter hook egress device nfsb priority 7; }']);
    // A second chain on one device's hook: each entry must get its own chain's name, not its neighbour's.
    await inNs(n, ['nft', 'add', 'chain', 'netdev', 't', 'i2', '{ type filter hook ingress device nfsa priority 3; }']);
    await inNs(n, ['nft', 'add', 'table', 'arp', 'a']);
    await inNs(n, ['nft', 'add', 'chain', 'arp', 'a', 'o', '{ type filter hook output priority 3; }']);
    await inNs(n, ['nft', 'add', 'table', 'bridge', 'b']);
    await inNs(n, ['nft', 'add', 'chain', 'bridge', 'b', 'f', '{ type filter hook forward priority -2; }']);
    expect(await listing(n, 'all')).toEqual({
      'arp OUT': [[3, 'nft_do_chain_arp']],
      'bridge FORWARD': [[-2, 'nft_do_chain_bridge']],
      'netdev INGRESS nfsa': [[-5, 'nft_do_chain_netdev'], [3, 'nft_do_chain_netdev']],
      'netdev EGRESS nfsb': [[7, 'nft_do_chain_netdev']],
    });
    expect(await listing(n, 'netdev')).toEqual({
      'netdev INGRESS nfsa': [[-5, 'nft_do_chain_netdev'], [3, 'nft_do_chain_netdev']],
      'netdev EGRESS nfsb': [[7, 'nft_do_chain_netdev']],
    });
    // Each netdev entry names its chain as the family hooks' do (bpftrace backend, where BTF has
    // struct nft_chain), and so do the arp and bridge chains.
    const r = await nfscope(['hooks', '--netns', n, '--family', 'all', '--backend', 'bpftrace', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { hooks: { family: string; hook: string; device?: string; entries: { chain?: { family: string; table: string; chain: string } }[] }[] };
    const chains = Object.fromEntries(rep.hooks.map((h) => [`${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''}`, h.entries.map((e) => e.chain ?? null)]));
    expect(chains).toEqual(chainsNamed ? {
      'arp OUT': [{ family: 'arp', table: 'a', chain: 'o' }],
      'bridge FORWARD': [{ family: 'bridge', table: 'b', chain: 'f' }],
      'netdev INGRESS nfsa': [{ family: 'netdev', table: 't', chain: 'i' }, { family: 'netdev', table: 't', chain: 'i2' }],
      'netdev EGRESS nfsb': [{ family: 'netdev', table: 't', chain: 'e' }],
    } : { 'arp OUT': [null], 'bridge FORWARD': [null], 'netdev INGRESS nfsa': [null, null], 'netdev EGRESS nfsb': [null] });
  });
});

describe('a bridge: br_netfilter\'s entries are its own', () => {
  it('ip_sabotage_in (ipv4 and ipv6 PRE_ROUTING, first of all) and br_nf_* are br_netfilter\'s; no entry is unknown', async () => {
    const n = await fresh();
    // br_netfilter registers its hooks in a netns once a bridge is there (br_netfilter_hooks.c, brnf_device_event).
    await inNs(n, ['ip', 'link', 'add', 'nfsbr', 'type', 'bridge']);
    const r = await nfscope(['hooks', '--netns', n, '--family', 'all', '--backend', 'bpftrace', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { hooks: { family: string; hook: string; entries: { priority: number; callback: string; owner: string }[] }[] };
    const entries = rep.hooks.flatMap((h) => h.entries.map((e) => [h.family, h.hook, e.priority, e.callback, e.owner]));
    if (!entries.some((e) => e[3] === 'ip_sabotage_in')) {
      console.log(`skipped: no ip_sabotage_in listed here (no br_netfilter in this kernel?): ${JSON.stringify(entries)}`);
      return;
    }
    // NF_IP_PRI_FIRST and NF_IP6_PRI_FIRST: INT_MIN.
    expect(entries.filter((e) => e[3] === 'ip_sabotage_in')).toEqual([
      ['ipv4', 'PRE_ROUTING', -2147483648, 'ip_sabotage_in', 'br_netfilter'],
      ['ipv6', 'PRE_ROUTING', -2147483648, 'ip_sabotage_in', 'br_netfilter'],
    ]);
    expect(entries.filter((e) => e[0] === 'bridge').every((e) => e[4] === 'br_netfilter')).toBe(true);
    expect(entries.filter((e) => e[4] === 'unknown')).toEqual([]);
  });
});

describe('--all-netns', () => {
  it('lists the current namespace and every named one, each with its own hooks', async () => {
    const a = await fresh();
    const b = await fresh();
    await inNs(a, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP']);
    const r = await nfscope(['hooks', '--all-netns', '--family', 'ipv4', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const all = JSON.parse(r.stdout);
    expectSchema('hooks-all', all);
    expect(all.schemaVersion).toBe(1);
    const by = Object.fromEntries(all.reports.map((x: { netns: string; hooks: unknown }) => [x.netns, x.hooks]));
    expect(all.reports[0].netns).toBe('(current)');
    // The chain's name where this kernel's BTF allows reading it (see the chains test below).
    const chain = chainsNamed ? { chain: { family: 'ip', table: 'filter', chain: 'INPUT' } } : {};
    expect(by[a]).toEqual([{ family: 'ipv4', hook: 'LOCAL_IN', entries: [{ priority: 0, callback: await iptablesCallback('4'), owner: (await iptablesCallback('4')).startsWith('nft_') ? 'nftables' : 'iptables', conntrack: false, ...chain }] }]);
    expect(by[b]).toEqual([]);
  });

  it('--netns and --all-netns together: exit 2', async () => {
    const r = await nfscope(['hooks', '--netns', 'x', '--all-netns']);
    expect(r.exitCode).toBe(2);
  });
});

describe('bad input', () => {
  it.each([
    [['hooks', '--netns', 'no-such-ns-xyz'], /unknown network namespace/],
    [['hooks', '--netns', '../etc'], /invalid --netns/],
    [['hooks', '--family', 'ipx'], /unknown --family/],
    [['hooks', '--backend', 'magic'], /unknown --backend/],
    [['hooks', '--target', 'mars'], /unknown --target/],
  ])('%j exits 2 with one line', async (args, re) => {
    const r = await nfscope(args as string[]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
  });

  it('a backend this kernel cannot serve says why', async () => {
    const r = await nfscope(['hooks', '--backend', 'drgn']);
    expect(r.exitCode).toBe(7);
    expect(r.stderr).toMatch(/drgn cannot run here: .*(kcore|debuginfo|not installed)/);
  });
});

describe('nf_tables chains named (bpftrace backend, where BTF has struct nft_chain)', () => {
  it('an iptables-nft rule shows as ip filter INPUT, our own chain by its names, NAT chains under nf_nat', async () => {
    const n = await fresh();
    await inNs(n, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2570', '-j', 'DROP']);
    await inNs(n, ['nft', 'add', 'table', 'inet', 'nfst_own']);
    await inNs(n, ['nft', 'add', 'chain', 'inet', 'nfst_own', 'in_early', '{ type filter hook input priority -5; }']);
    await inNs(n, ['nft', 'add', 'table', 'ip', 'nfst_nat']);
    await inNs(n, ['nft', 'add', 'chain', 'ip', 'nfst_nat', 'pre', '{ type nat hook prerouting priority dstnat; }']);
    const r = await nfscope(['hooks', '--netns', n, '--family', 'ipv4', '--backend', 'bpftrace', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    type E = { priority: number; callback: string; chain?: { family: string; table: string; chain: string }; nested?: E[] };
    const entries = (hook: string): E[] => rep.hooks.find((h: { hook: string }) => h.hook === hook)?.entries ?? [];
    if (!chainsNamed) {
      // A kernel without nf_tables BTF: said, and nothing is made up.
      expect(rep.warnings.filter((w: string) => /chains not named/.test(w))).toHaveLength(1);
      expect(entries('LOCAL_IN').map((e) => e.chain)).toEqual(entries('LOCAL_IN').map(() => undefined));
      expect(entries('LOCAL_IN').length).toBeGreaterThan(0);
      return;
    }
    expect(rep.warnings.filter((w: string) => /chains not named/.test(w))).toEqual([]);
    expect(entries('LOCAL_IN').filter((e) => e.chain).map((e) => [e.priority, e.chain])).toEqual([
      [-5, { family: 'inet', table: 'nfst_own', chain: 'in_early' }],
      [0, { family: 'ip', table: 'filter', chain: 'INPUT' }],
    ]);
    const nat = entries('PRE_ROUTING').find((e) => e.nested);
    expect(nat?.callback).toMatch(/^nf_nat_ipv4_/);
    expect(nat!.nested!.map((x) => [x.priority, x.chain])).toEqual([[-100, { family: 'ip', table: 'nfst_nat', chain: 'pre' }]]);
    // The table rendering names them too.
    const text = await nfscope(['hooks', '--netns', n, '--family', 'ipv4', '--backend', 'bpftrace']);
    expect(text.stdout).toMatch(/ip filter INPUT/);
    expect(text.stdout).toMatch(/└ nft_nat_do_chain .* ip nfst_nat pre/);
  });
  it('iptables-legacy tables are named on ipt_do_table and ip6t_do_table (a second walk, only where they are)', async () => {
    const n = await fresh();
    await inNs(n, ['iptables-legacy', '-A', 'INPUT', '-j', 'ACCEPT']);
    await inNs(n, ['ip6tables-legacy', '-t', 'raw', '-A', 'OUTPUT', '-j', 'ACCEPT']);
    const r = await nfscope(['hooks', '--netns', n, '--family', 'all', '--backend', 'bpftrace', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { warnings: string[]; hooks: { family: string; hook: string; entries: { priority: number; callback: string; xtTable?: string }[] }[] };
    const xt = rep.hooks.flatMap((h) => h.entries.filter((e) => /^ip6?t_do_table$/.test(e.callback)).map((e) => [h.family, h.hook, e.priority, e.callback, e.xtTable ?? null]));
    // Asked after the legacy tables are loaded: where x_tables is a module, its BTF appears only then.
    if (!xtNamed()) {
      // x_tables in a module: its BTF is not read from a BEGIN probe, and the listing says so.
      expect(rep.warnings.filter((w) => /x_tables tables not named/.test(w))).toHaveLength(1);
      return;
    }
    // The hooks each table registers on (iptable_filter.c: LOCAL_IN, FORWARD, LOCAL_OUT at 0;
    // ip6table_raw.c: PRE_ROUTING and LOCAL_OUT at -300), each entry naming its own table.
    expect(xt).toEqual([
      ['ipv4', 'LOCAL_IN', 0, 'ipt_do_table', 'filter'], ['ipv4', 'FORWARD', 0, 'ipt_do_table', 'filter'], ['ipv4', 'LOCAL_OUT', 0, 'ipt_do_table', 'filter'],
      ['ipv6', 'PRE_ROUTING', -300, 'ip6t_do_table', 'raw'], ['ipv6', 'LOCAL_OUT', -300, 'ip6t_do_table', 'raw'],
    ]);
    expect(rep.warnings.filter((w) => /table/.test(w))).toEqual([]);
    const text = await nfscope(['hooks', '--netns', n, '--family', 'ipv4', '--backend', 'bpftrace']);
    expect(text.stdout).toMatch(/ipt_do_table .* table filter/);
  });
  it('a `type route` chain is named on its own callback (nf_route_table_hook4/6), ipv4 and ipv6', async () => {
    const n = await fresh();
    await inNs(n, ['nft', 'add table ip nfst_rt; add chain ip nfst_rt out { type route hook output priority -150; }']);
    await inNs(n, ['nft', 'add table ip6 nfst_rt6; add chain ip6 nfst_rt6 out6 { type route hook output priority mangle; }']);
    const r = await nfscope(['hooks', '--netns', n, '--family', 'all', '--backend', 'bpftrace', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { hooks: { family: string; hook: string; entries: { priority: number; callback: string; owner: string; chain?: unknown }[] }[] };
    const route = rep.hooks.flatMap((h) => h.entries.filter((e) => /^nf_route_table_hook/.test(e.callback)).map((e) => ({ family: h.family, hook: h.hook, ...e })));
    // The kernel's own names for the route callbacks (net/netfilter/nft_chain_route.c), at the priorities given.
    expect(route.map((e) => [e.family, e.hook, e.priority, e.callback, e.owner])).toEqual([
      ['ipv4', 'LOCAL_OUT', -150, 'nf_route_table_hook4', 'nftables'],
      ['ipv6', 'LOCAL_OUT', -150, 'nf_route_table_hook6', 'nftables'],
    ]);
    if (!chainsNamed) return expect(route.map((e) => e.chain)).toEqual([undefined, undefined]);
    expect(route.map((e) => e.chain)).toEqual([
      { family: 'ip', table: 'nfst_rt', chain: 'out' },
      { family: 'ip6', table: 'nfst_rt6', chain: 'out6' },
    ]);
  });
});

/**
 * A BPF netfilter link (6.4+): the hook's priv is the program (net/netfilter/nf_bpf_link.c), whose
 * id and name the listing gives. Loaded by test/helpers/bpf-nf-link.py through bpf(2) in the test's
 * netns (no loader is installed here); the id expected is the one the kernel gave the loader.
 */
describe('a BPF netfilter program is named by its id and name', () => {
  const why = process.arch !== 'x64' ? `the loader knows bpf(2)'s number on x86_64 only (here ${process.arch})`
    : !kernelHasSymbol('nf_hook_run_bpf') ? 'this kernel has no nf_hook_run_bpf (CONFIG_NETFILTER_BPF_LINK, 6.4+)'
      : !btfHasName('bpf_prog_aux') ? 'struct bpf_prog_aux is not in this kernel\'s BTF' : null;
  if (why) console.log(`skipped the BPF netfilter case: ${why}`);
  it.skipIf(why !== null)('ipv4 LOCAL_IN and ipv6 PRE_ROUTING links, listed where they are with their programs', async () => {
    const n = await fresh();
    const links: ResultPromise[] = [];
    try {
      const link = async (pf: number, hooknum: number, priority: number, name: string): Promise<number> => {
        const p = execa('ip', ['netns', 'exec', n, 'python3', join(ROOT, 'test/helpers/bpf-nf-link.py'), String(pf), String(hooknum), String(priority), name], { reject: false, stdin: 'pipe', timeout: 60_000 });
        links.push(p);
        const id = await new Promise<number>((resolve, reject) => {
          p.stdout!.on('data', (d: Buffer) => {
            const m = /^READY (\d+)$/m.exec(d.toString());
            if (m) resolve(Number(m[1]));
          });
          void p.then((r) => reject(new Error(`bpf-nf-link.py ended (${r.exitCode}): ${r.stderr}`)));
        });
        return id;
      };
      // NFPROTO_IPV4 2, NF_INET_LOCAL_IN 1; NFPROTO_IPV6 10, NF_INET_PRE_ROUTING 0 (uapi, stable).
      const v4 = await link(2, 1, -123, 'nfscope_v4');
      const v6 = await link(10, 0, -301, 'nfscope.v6');
      const r = await nfscope(['hooks', '--netns', n, '--family', 'all', '--backend', 'bpftrace', '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout) as { hooks: { family: string; hook: string; entries: { priority: number; callback: string; owner: string; bpfProg?: unknown }[] }[]; warnings: string[] };
      expectSchema('hooks', rep);
      expect(rep.hooks.map((h) => [h.family, h.hook, h.entries.map((e) => [e.priority, e.callback, e.owner, e.bpfProg])])).toEqual([
        ['ipv4', 'LOCAL_IN', [[-123, 'nf_hook_run_bpf', 'bpf', { id: v4, name: 'nfscope_v4' }]]],
        ['ipv6', 'PRE_ROUTING', [[-301, 'nf_hook_run_bpf', 'bpf', { id: v6, name: 'nfscope.v6' }]]],
      ]);
      expect(rep.warnings).toEqual([]);
      const text = await nfscope(['hooks', '--netns', n, '--family', 'ipv4', '--backend', 'bpftrace']);
      expect(text.stdout).toContain(`nf_hook_run_bpf │ bpf   │    │ bpf prog ${v4} nfscope_v4`);
      // Each loader let its link go and ended well once its stdin closed.
      for (const p of links) p.stdin!.end();
      for (const p of links) expect(((await p).exitCode), (await p).stderr).toBe(0);
    } finally {
      // Also on a failure above, whose error is the one reported: the loaders end, nothing checked here.
      for (const p of links) p.stdin!.end();
      await Promise.all(links);
    }
  });
});

