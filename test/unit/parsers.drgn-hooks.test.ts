import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drgnHooks, parseDrgnHooks } from '../../src/parsers/drgn-hooks.js';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { parseBpftraceHooks } from '../../src/parsers/bpftrace-hooks.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real captures by scripts/capture/vm-fixtures.mjs: drgn and nf_hooks.bt in the same netns of the micro-VM. */
const DRGN = join(ROOT, 'test/fixtures/drgn');
type H = { family: string; hook: string; device?: string; entries: { priority: number; callback: string }[] };
const view = (hs: H[]) => Object.fromEntries(hs.map((h) => [`${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''}`, h.entries.map((e) => `${e.priority} ${e.callback}`)]));

describe.each(readdirSync(DRGN).filter((k) => existsSync(join(DRGN, k, 'conntrack-nft'))))('drgn nf_hooks.py output captured on %s', (k) => {
  const text = readFileSync(join(DRGN, k, 'conntrack-nft', 'stdout.jsonl'), 'utf8');
  it('agrees with the BTF walk of the same netns, netdev included', () => {
    const bt = parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures/bpftrace', k, 'conntrack-nft', 'stdout.jsonl'), 'utf8'))));
    const d = view(parseDrgnHooks(text));
    expect(d).toEqual(view(bt.hooks));
    expect(d['ipv4 LOCAL_IN']).toContain('2147483647 ipv4_confirm');
    expect(d['netdev INGRESS capa']).toEqual(['-5 nft_do_chain_netdev']);
  });
  it('damaged input: typed errors', () => {
    expect(() => parseDrgnHooks(text.slice(0, 40))).toThrow(ParseError);
    expect(() => parseDrgnHooks('{"family": "ipv9", "hook": 0, "priority": 1, "callback": "x"}')).toThrow(/unknown family/);
    expect(() => parseDrgnHooks('{"family": "arp", "hook": 7, "priority": 1, "callback": "x"}')).toThrow(/out of range/);
    expect(parseDrgnHooks('')).toEqual([]);
  });
});

/** scripts/capture/drgn-names-vm.sh on Debian 5.10 (drgn 0.0.22, the kernel's DWARF): the setup is in its meta.json. */
describe('drgn names what each entry runs (captured on 5.10)', () => {
  const text = readFileSync(join(DRGN, '5.10.0-46-amd64', 'names', 'stdout.jsonl'), 'utf8');
  it('the chains, the NAT chain behind nf_nat\'s entry and the netdev chain, from each entry\'s priv; nothing else named', () => {
    const { hooks, warnings } = drgnHooks(text);
    expect(warnings).toEqual([]);
    const named = hooks.flatMap((h) => h.entries.flatMap((e) => [e, ...(e.nested ?? [])]).filter((e) => e.chain || e.xtTable || e.bpfProg || e.flowtable)
      .map((e) => `${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''} ${e.priority} ${e.callback} ${JSON.stringify(e.chain)}`));
    expect(named).toEqual([
      'ipv4 LOCAL_IN 0 nft_do_chain_ipv4 {"family":"ip","table":"filter","chain":"INPUT"}',
      'ipv4 POST_ROUTING 100 nft_nat_do_chain {"family":"ip","table":"nat","chain":"POSTROUTING"}',
      'netdev INGRESS da 9 nft_do_chain_netdev {"family":"netdev","table":"t","chain":"i"}',
    ]);
    // nf_nat's entries with no chain behind them carry no nested list, as the bpftrace walk's.
    expect(hooks.find((h) => h.hook === 'PRE_ROUTING')!.entries.find((e) => e.callback === 'nf_nat_ipv4_pre_routing')!.nested).toBeUndefined();
  });
  it('what could not be read is said; a program or table record nfscope would not keep is said, not kept; a malformed one is refused', () => {
    const lines = text.trim().split('\n');
    const input = lines.findIndex((l) => l.includes('"INPUT"'));
    const with_ = (i: number, extra: Record<string, unknown>) => lines.map((l, j) => (j === i ? JSON.stringify({ ...JSON.parse(l), ...extra }) : l)).join('\n');
    const unread = drgnHooks(with_(input, { chain: undefined, unread: "LookupError: could not find 'struct nft_chain'" }));
    expect(unread.warnings).toEqual(["ipv4 LOCAL_IN: nft_do_chain_ipv4 at priority 0: what it runs could not be read (LookupError: could not find 'struct nft_chain')"]);
    expect(unread.hooks.find((h) => h.hook === 'LOCAL_IN')!.entries[0]!.chain).toBeUndefined();
    const prog = drgnHooks(with_(input, { callback: 'nf_hook_run_bpf', chain: undefined, bpfProg: { id: 0, name: 'x' } }));
    expect(prog.warnings).toEqual(['ipv4 LOCAL_IN: nf_hook_run_bpf at priority 0: its program could not be read (id 0, name "x")']);
    const table = drgnHooks(with_(input, { callback: 'ipt_do_table', chain: undefined, xtTable: { af: 2, name: 'Filter; x' } }));
    expect(table.warnings).toEqual(['ipv4 LOCAL_IN: ipt_do_table at priority 0: its table could not be read (af 2, name "Filter; x")']);
    expect(() => drgnHooks(with_(input, { unread: 7 }))).toThrow(/unread: a reason/);
    expect(() => drgnHooks(with_(input, { chain: { nfproto: 2, table: 'filter' } }))).toThrow(/chain: \{nfproto, table, chain\}/);
    expect(() => drgnHooks(with_(input, { nested: [{ priority: 1, callback: 'x', nested: [] }] }))).toThrow(/one level deep/);
  });
});
