import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { applySecondWalk, familyMask, parseBpftraceHooks, wordsName } from '../../src/parsers/bpftrace-hooks.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real captures by scripts/capture-hooks-fixture.sh; meta.json beside each. */
const FIX = join(ROOT, 'test/fixtures/bpftrace');
// Kernels with the host capture cases (scripts/capture/hooks-host.sh).
const kernels = readdirSync(FIX).filter((k) => existsSync(join(FIX, k, 'conntrack-netdev')));
const load = (k: string, c: string) =>
  parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(FIX, k, c, 'stdout.jsonl'), 'utf8'))));

describe.each(kernels)('nf_hooks.bt output captured on %s', (k) => {
  it('conntrack-netdev: hooks, order, owners, conntrack marks', () => {
    const r = load(k, 'conntrack-netdev');
    expect(r.netnsInode).toBeGreaterThan(0);
    expect(r.warnings).toEqual([]);
    const view = r.hooks.map((h) => [h.family, h.hook, h.device ?? null, h.entries.map((e) => `${e.priority} ${e.callback} ${e.owner}${e.conntrack ? ' ct' : ''}`)]);
    expect(view).toEqual([
      ['ipv4', 'PRE_ROUTING', null, ['-400 ipv4_conntrack_defrag defrag', '-200 ipv4_conntrack_in conntrack ct']],
      ['ipv4', 'LOCAL_IN', null, ['0 nft_do_chain_ipv4 nftables', '2147483647 nf_confirm conntrack ct']],
      ['ipv4', 'LOCAL_OUT', null, ['-400 ipv4_conntrack_defrag defrag', '-200 ipv4_conntrack_local conntrack ct']],
      ['ipv4', 'POST_ROUTING', null, ['2147483647 nf_confirm conntrack ct']],
      ['ipv6', 'LOCAL_IN', null, ['0 nft_do_chain_ipv6 nftables']],
      ['arp', 'OUT', null, ['3 nft_do_chain_arp nftables']],
      ['netdev', 'INGRESS', 'nfcapa', ['-5 nft_do_chain_netdev nftables']],
    ]);
  });

  it('many-chains: a hook past the loop bound is marked truncated, not silently cut', () => {
    const r = load(k, 'many-chains');
    const input = r.hooks.find((h) => h.family === 'ipv4' && h.hook === 'LOCAL_IN')!;
    expect(input.truncated).toEqual({ listed: 32, total: 42 });
    expect(input.entries.map((e) => e.priority).slice(0, 3)).toEqual([0, 1, 2]);
    expect(r.warnings.join()).toMatch(/LOCAL_IN: 42 entries, 32 listed/);
  });
});

describe('nf_hooks.bt output: damaged input', () => {
  const real = readFileSync(join(FIX, kernels[0]!, 'conntrack-netdev', 'stdout.jsonl'), 'utf8');
  it('empty input: typed error, no "N" record', () => {
    expect(() => parseBpftraceHooks(printfLines(parseBpftraceJson('')))).toThrow(/no "N" record/);
  });
  it('truncated mid-line: typed error with the line number', () => {
    const cut = real.slice(0, real.indexOf('nf_confirm') + 4);
    try {
      parseBpftraceJson(cut);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ParseError);
      expect((e as ParseError).line).toBe(cut.split('\n').length);
    }
  });
  it('garbage record: typed error naming the record', () => {
    expect(() => parseBpftraceHooks(['N 1', 'S 0 1', 'E x y'])).toThrow(/line 3/);
    expect(() => parseBpftraceHooks(['N 1', 'Q'])).toThrow(/unknown record/);
    expect(() => parseBpftraceHooks(['N 1', 'S 99 1'])).toThrow(/out of range/);
  });
  it('family mask matches the script header', () => {
    expect(familyMask(['ipv4'])).toBe(1);
    expect(familyMask(['ipv6', 'netdev'])).toBe(18);
    expect(familyMask(['ipv4', 'ipv6', 'arp', 'bridge', 'netdev'])).toBe(31);
  });
});

describe('nf_hooks.bt with NFT_CHAIN_* filled (6.18): chains named, NAT chains behind nf_nat', () => {
  // nftables' own examples/ipv4-nat.nft, an iptables-nft rule and a chain of our own (meta.json).
  const r = parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(FIX, '6.18.44-fc-v669/nat-chains/stdout.jsonl'), 'utf8'))));
  const view = (e: { priority: number; callback: string; chain?: { family: string; table: string; chain: string }; nested?: unknown[] }): string =>
    `${e.priority} ${e.callback}${e.chain ? ` [${e.chain.family} ${e.chain.table} ${e.chain.chain}]` : ''}`;
  it('iptables-nft shows as its table and chain; our chain by its names', () => {
    const inp = r.hooks.find((h) => h.family === 'ipv4' && h.hook === 'LOCAL_IN')!;
    expect(inp.entries.map(view)).toEqual(['0 nft_do_chain_ipv4 [ip filter INPUT]', '5 nft_do_chain_ipv4 [ip mine in]', '100 nf_nat_ipv4_local_in']);
  });
  it('the four NAT chains of ipv4-nat.nft, each under its nf_nat entry, in the order they run', () => {
    const nat = r.hooks.flatMap((h) => h.entries.filter((e) => e.nested).map((e) => `${h.hook}: ${view(e)} → ${e.nested!.map(view).join(', ')}`));
    expect(nat).toEqual([
      'PRE_ROUTING: -100 nf_nat_ipv4_pre_routing → -100 nft_nat_do_chain [ip nat prerouting]',
      'LOCAL_IN: 100 nf_nat_ipv4_local_in → 100 nft_nat_do_chain [ip nat input]',
      'LOCAL_OUT: -100 nf_nat_ipv4_local_fn → -100 nft_nat_do_chain [ip nat output]',
      'POST_ROUTING: 100 nf_nat_ipv4_out → 100 nft_nat_do_chain [ip nat postrouting]',
    ]);
  });
  it('a name record without its entry, or a table without its chain, is an error', () => {
    expect(() => parseBpftraceHooks(['N 1', 'S 1 1', 'E 0 nft_do_chain_ipv4', 'T 65 -1 2 filter', 'U INPUT'])).toThrow(ParseError);
    expect(() => parseBpftraceHooks(['N 1', 'S 1 1', 'E 0 nft_do_chain_ipv4', 'T 64 -1 2 filter'])).toThrow(/without its "U <chain>"/);
    // Names are the rest of the line: nft allows spaces in quoted names.
    const sp = parseBpftraceHooks(['N 1', 'S 1 1', 'E 0 nft_do_chain_ipv4', 'T 64 -1 1 my table', 'U my chain']);
    expect(sp.hooks[0]!.entries[0]!.chain).toEqual({ family: 'inet', table: 'my table', chain: 'my chain' });
  });
});

describe('nf_hooks.bt with chain names as raw words, slot and netdev walks apart (6.18)', () => {
  // A real run of `nfscope hooks --family all` (meta.json: its setup, both argvs).
  const dir = join(FIX, '6.18.44-fc-v657/nat-chains-words');
  const r = parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(dir, 'stdout.jsonl'), 'utf8'))));
  const view = (e: { priority: number; callback: string; chain?: { family: string; table: string; chain: string } }): string =>
    `${e.priority} ${e.callback}${e.chain ? ` [${e.chain.family} ${e.chain.table} ${e.chain.chain}]` : ''}`;
  const at = (family: string, hook: string) => r.hooks.find((h) => h.family === family && h.hook === hook)!;
  it('chains are named from the words; other entries, read as chains too, are not', () => {
    expect(at('ipv4', 'LOCAL_IN').entries.map(view)).toEqual([
      '0 nft_do_chain_ipv4 [ip filter INPUT]', '5 nft_do_chain_ipv4 [ip mine in]',
      '7 nft_do_chain_ipv4 [ip mine a_chain_name_longer_than_thirty_…]', '100 nf_nat_ipv4_local_in',
    ]);
    // The raw records are there for every entry; only chain callbacks took a name.
    const lines = printfLines(parseBpftraceJson(readFileSync(join(dir, 'stdout.jsonl'), 'utf8')));
    expect(lines.filter((l) => l.startsWith('C ') && / -1 /.test(l)).length).toBe(r.hooks.filter((h) => h.family !== 'netdev').flatMap((h) => h.entries).length);
    expect(r.hooks.flatMap((h) => h.entries).filter((e) => e.chain && !/^nft_do_chain_/.test(e.callback))).toEqual([]);
  });
  it('a name of 32 bytes or more is shown cut, and said so', () => {
    expect(r.warnings).toContain("chain ip mine a_chain_name_longer_than_thirty_…: a name of 32 bytes or more, shown cut where the listing's read of it ends (…)");
  });
  it('NAT chains behind nf_nat, IPv4 and IPv6, named; the netdev walk (the second program) is there', () => {
    const nat = r.hooks.flatMap((h) => h.entries.filter((e) => e.nested?.length).map((e) => `${h.family} ${h.hook}: ${view(e)} → ${e.nested!.map(view).join(', ')}`));
    expect(nat).toEqual([
      'ipv4 PRE_ROUTING: -100 nf_nat_ipv4_pre_routing → -100 nft_nat_do_chain [ip nat prerouting]',
      'ipv4 LOCAL_IN: 100 nf_nat_ipv4_local_in → 100 nft_nat_do_chain [ip nat input]',
      'ipv4 LOCAL_OUT: -100 nf_nat_ipv4_local_fn → -100 nft_nat_do_chain [ip nat output]',
      'ipv4 POST_ROUTING: 100 nf_nat_ipv4_out → 100 nft_nat_do_chain [ip nat postrouting]',
      'ipv6 PRE_ROUTING: -100 nf_nat_ipv6_in → -100 nft_nat_do_chain [ip6 nat6 pre]',
    ]);
    expect(r.hooks.filter((h) => h.family === 'netdev').map((h) => `${h.device} ${h.hook} ${h.entries.map(view).join(', ')}`))
      .toEqual(['nfcapa INGRESS -5 nft_do_chain_netdev']);
  });
  it('words decode up to the first NUL, little-endian; no NUL in 32 bytes is a cut name', () => {
    expect(wordsName(['7265746c6966', '0', '0', '0'])).toEqual({ name: 'filter', cut: false });
    expect(wordsName(['4141414141414141', '4141414141414141', '4141414141414141', '4141414141414141'])).toEqual({ name: 'A'.repeat(32), cut: true });
    // Garbage after the NUL (the rest of a kmalloc'ed name) is not part of it.
    expect(wordsName(['21fc825ad6004142', 'ffffffffffffffff', '0', '0']).name).toBe('BA');
  });
  it('a C record for an entry not listed is an error; unreadable names are a warning, not a name', () => {
    expect(() => parseBpftraceHooks(['N 1', 'S 1 1', 'E 0 nft_do_chain_ipv4', 'C 65 -1 2 0 0 0 0 0 0 0 0'])).toThrow(ParseError);
    const z = parseBpftraceHooks(['N 1', 'S 1 1', 'E 0 nft_do_chain_ipv4', 'C 64 -1 2 0 0 0 0 0 0 0 0', 'Z']);
    expect(z.hooks[0]!.entries[0]!.chain).toBeUndefined();
    expect(z.warnings).toEqual(["nft_do_chain_ipv4 at priority 0: its chain's names could not be read"]);
    expect(() => parseBpftraceHooks(['N 1', 'S 1 1', 'E 0 x', 'C 64 -1 2 zz 0 0 0 0 0 0 0'])).toThrow(/8 hex words/);
  });
});

/**
 * One capture on 6.18 (bpftrace 0.17) of a netns with two netdev chains on one device's ingress and
 * one on another's egress, an nf_tables NAT chain, and iptables-legacy / ip6tables-legacy tables:
 * the listing (test/fixtures/bpftrace/…/netdev-xt) and the x_tables walk run after it
 * (test/fixtures/bpftrace-xt/…/netdev-xt); the setup is in each meta.json.
 */
describe('netdev chains and x_tables tables named (captured on 6.18)', () => {
  const K = '6.18.44-fc-v1272';
  const text = (tool: string) => readFileSync(join(ROOT, 'test/fixtures', tool, K, 'netdev-xt', 'stdout.jsonl'), 'utf8');
  const parse = (s: string) => parseBpftraceHooks(printfLines(parseBpftraceJson(s)));
  it('each netdev entry names its own chain (c after its D), two on one hook apart', () => {
    const r = parse(text('bpftrace'));
    expect(r.warnings).toEqual([]);
    const dev = r.hooks.filter((h) => h.family === 'netdev').map((h) => [h.hook, h.device, h.entries.map((e) => [e.priority, e.chain?.chain ?? null])]);
    expect(dev.sort()).toEqual([
      ['EGRESS', 'nfsb', [[7, 'e']]],
      ['INGRESS', 'nfsa', [[-5, 'i'], [3, 'i2']]],
    ]);
  });
  it('a c record with no D before it is refused, never given to another entry', () => {
    const lines = printfLines(parseBpftraceJson(text('bpftrace')));
    const firstD = lines.findIndex((l) => l.startsWith('D '));
    expect(firstD).toBeGreaterThan(0);
    expect(() => parseBpftraceHooks(lines.filter((_, i) => i !== firstD))).toThrow(ParseError);
  });
  it('the x_tables walk names each table walker\'s table, on the listing\'s own entries', () => {
    const listing = parse(text('bpftrace'));
    const walk = parse(text('bpftrace-xt'));
    expect(applySecondWalk('xt', listing.hooks, walk.hooks)).toEqual([]);
    const xt = listing.hooks.flatMap((h) => h.entries.filter((e) => e.xtTable).map((e) => `${h.family} ${h.hook} ${e.priority} ${e.callback} ${e.xtTable}`));
    // iptable_filter: LOCAL_IN, FORWARD, LOCAL_OUT at 0; ip6table_raw: PRE_ROUTING, LOCAL_OUT at -300.
    expect(xt).toEqual([
      'ipv4 LOCAL_IN 0 ipt_do_table filter', 'ipv4 FORWARD 0 ipt_do_table filter', 'ipv4 LOCAL_OUT 0 ipt_do_table filter',
      'ipv6 PRE_ROUTING -300 ip6t_do_table raw', 'ipv6 LOCAL_OUT -300 ip6t_do_table raw',
    ]);
    // Nothing else got a table: not the nf_tables or conntrack entries beside them.
    expect(listing.hooks.flatMap((h) => h.entries.filter((e) => e.xtTable && !/_do_table$/.test(e.callback)))).toEqual([]);
  });
  it('an entry that moved between the two walks is left unnamed and said; a table of another family is not taken', () => {
    const listing = parse(text('bpftrace'));
    const walk = parse(text('bpftrace-xt'));
    // The walk's LOCAL_IN list one entry shorter at its head: every place after it shifted.
    const shifted = walk.hooks.map((h) => (h.family === 'ipv4' && h.hook === 'LOCAL_IN' ? { ...h, entries: h.entries.slice(1) } : h));
    const warnings = applySecondWalk('xt', listing.hooks, shifted);
    expect(warnings).toEqual(['ipv4 LOCAL_IN: ipt_do_table at priority 0 changed place between the listing and the read of its table: not named']);
    expect(listing.hooks.find((h) => h.family === 'ipv4' && h.hook === 'LOCAL_IN')!.entries.find((e) => e.callback === 'ipt_do_table')!.xtTable).toBeUndefined();
    // An X record whose table says another family (10, IPv6) for ipt_do_table: a warning, no name.
    const lines = printfLines(parseBpftraceJson(text('bpftrace-xt'))).map((l) => l.replace(/^(X \d+ ipt_do_table) 2 /, '$1 10 '));
    const r = parseBpftraceHooks(lines);
    expect(r.warnings.filter((w) => /ipt_do_table at priority 0: its table could not be read \(af 10/.test(w))).toHaveLength(3);
    expect(r.hooks.flatMap((h) => h.entries).filter((e) => e.callback === 'ipt_do_table' && e.xtTable)).toEqual([]);
  });
});

describe('the BPF walk (programs/nf_hooks.ts bpfProgsProgram), captured by scripts/capture/hooks-bpf-host.sh', () => {
  const K = '6.18.44-fc-v1300';
  const parse = (tool: string) => parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures', tool, K, 'bpf-links', 'stdout.jsonl'), 'utf8'))));
  // The ids the kernel gave the loader, as its capture wrote them down.
  const setup = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/bpftrace-bpf', K, 'bpf-links', 'meta.json'), 'utf8')).setup as string;
  const idOf = (name: string) => Number(new RegExp(`prog (\\d+) ${name.replace('.', '\\.')}`).exec(setup)![1]);
  it('names each link\'s program on the listing\'s own entry', () => {
    const listing = parse('bpftrace');
    expect(applySecondWalk('bpf', listing.hooks, parse('bpftrace-bpf').hooks)).toEqual([]);
    expect(listing.hooks.map((h) => [h.family, h.hook, h.entries.map((e) => [e.priority, e.callback, e.owner, e.bpfProg])])).toEqual([
      ['ipv4', 'LOCAL_IN', [[-123, 'nf_hook_run_bpf', 'bpf', { id: idOf('nfscope_v4'), name: 'nfscope_v4' }]]],
      ['ipv6', 'PRE_ROUTING', [[-301, 'nf_hook_run_bpf', 'bpf', { id: idOf('nfscope.v6'), name: 'nfscope.v6' }]]],
    ]);
  });
  it('a program record that is not a program (id 0, a name bpf(2) refuses) is said, not kept; one of another callback is ignored', () => {
    const lines = printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures/bpftrace-bpf', K, 'bpf-links', 'stdout.jsonl'), 'utf8')));
    const bad = parseBpftraceHooks(lines.map((l) => l.replace(/^(P 64 nf_hook_run_bpf) \d+ /, '$1 0 ').replace(/^(P 320 nf_hook_run_bpf \d+) \S+/, '$1 bad-name')));
    expect(bad.warnings).toEqual([
      'nf_hook_run_bpf at priority -123: its program could not be read (id 0, name "nfscope_v4")',
      'nf_hook_run_bpf at priority -301: its program could not be read (id ' + idOf('nfscope.v6') + ', name "bad-name")',
    ]);
    expect(bad.hooks.flatMap((h) => h.entries).filter((e) => e.bpfProg)).toEqual([]);
    const other = parseBpftraceHooks(lines.map((l) => l.replace(/^P 64 nf_hook_run_bpf /, 'P 64 nft_do_chain_ipv4 ')));
    expect(other.hooks[0]!.entries[0]!.bpfProg).toBeUndefined();
    // An empty name (a program loaded without one) is a program still: bpftrace's "%s" of it leaves
    // the line's trailing space.
    const unnamed = parseBpftraceHooks(lines.map((l) => l.replace(/^(P 64 nf_hook_run_bpf \d+ )\S+/, '$1')));
    expect(lines.some((l) => l.startsWith('P 64 '))).toBe(true);
    expect(unnamed.hooks[0]!.entries[0]!.bpfProg).toEqual({ id: idOf('nfscope_v4'), name: '' });
  });
});

describe('the flowtable walk (programs/nf_hooks.ts flowtablesProgram), captured by scripts/capture/hooks-flowtable-vm.sh on Debian 6.1', () => {
  const K = '6.1.0-57-amd64';
  const lines = (tool: string) => printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures', tool, K, 'flowtable', 'stdout.jsonl'), 'utf8')));
  it('names the flowtable on the listing\'s own entry of the device, and nothing else', () => {
    const listing = parseBpftraceHooks(lines('bpftrace'));
    const walk = parseBpftraceHooks(lines('bpftrace-ft'));
    expect(walk.warnings).toEqual([]);
    expect(applySecondWalk('ft', listing.hooks, walk.hooks)).toEqual([]);
    // The capture's setup (its meta.json): flowtable ft of table inet nfs_ft on v0's ingress at 0,
    // and a netdev chain before it at -5.
    expect(listing.hooks.map((h) => [h.family, h.hook, h.device, h.entries.map((e) => [e.priority, e.callback, e.owner, e.chain?.chain ?? null, e.flowtable ?? null])])).toEqual([
      ['netdev', 'INGRESS', 'v0', [[-5, 'nft_do_chain_netdev', 'nftables', 'in', null], [0, 'nf_flow_offload_inet_hook', 'flowtable', null, { family: 'inet', table: 'nfs_ft', name: 'ft' }]]],
    ]);
  });
  it('an F record after another callback\'s D is ignored; one with no D before it is refused; a name nft would not print is said, not kept', () => {
    const l = lines('bpftrace-ft');
    const f = l.findIndex((x) => x.startsWith('F '));
    expect(f).toBeGreaterThan(0);
    const moved = [...l.slice(0, f - 2), l[f - 1]!, l[f - 2]!, ...l.slice(f)];
    expect(parseBpftraceHooks(moved).hooks.flatMap((h) => h.entries).filter((e) => e.flowtable)).toEqual([]);
    expect(() => parseBpftraceHooks(l.filter((x) => !x.startsWith('D ')))).toThrow(ParseError);
    const bad = parseBpftraceHooks(l.map((x) => (x.startsWith('F ') ? 'F 1 nfs_ft \u0001\u0002' : x)));
    expect(bad.warnings).toEqual(['nf_flow_offload_inet_hook at priority 0: its flowtable could not be read (nfproto 1, "nfs_ft \\u0001\\u0002")']);
    expect(bad.hooks.flatMap((h) => h.entries).filter((e) => e.flowtable)).toEqual([]);
    // A name as long as str() reads (63 characters) may have been cut: kept marked, and said.
    const long = 'f'.repeat(63);
    const cut = parseBpftraceHooks(l.map((x) => (x.startsWith('F ') ? `F 1 nfs_ft ${long}` : x)));
    expect(cut.hooks.flatMap((h) => h.entries).find((e) => e.flowtable)!.flowtable).toEqual({ family: 'inet', table: 'nfs_ft', name: `${long}…` });
    expect(cut.warnings).toEqual([`nf_flow_offload_inet_hook at priority 0: its flowtable's names are read up to 63 characters: nfs_ft ${long}… may be cut`]);
  });
});
