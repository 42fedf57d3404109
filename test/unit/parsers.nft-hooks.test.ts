import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNftHooks } from '../../src/parsers/nft-hooks.js';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { parseBpftraceHooks } from '../../src/parsers/bpftrace-hooks.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real captures by scripts/capture/vm-fixtures.mjs: nft and nf_hooks.bt in the same netns. */
const NFT = join(ROOT, 'test/fixtures/nft');
const view = (hs: { family: string; hook: string; entries: { priority: number; callback: string }[] }[]) =>
  Object.fromEntries(hs.filter((h) => h.family !== 'netdev').map((h) => [`${h.family} ${h.hook}`, h.entries.map((e) => `${e.priority} ${e.callback}`)]));

describe.each(readdirSync(NFT))('nft list hooks captured on %s', (k) => {
  const text = readFileSync(join(NFT, k, 'conntrack-nft', 'stdout.txt'), 'utf8');
  it('parses to the exact listing', () => {
    expect(view(parseNftHooks(text))).toEqual({
      'ipv4 PRE_ROUTING': ['-400 ipv4_conntrack_defrag', '-200 ipv4_conntrack_in'],
      'ipv4 LOCAL_IN': ['0 nft_do_chain_ipv4', '2147483647 nft_do_chain_inet', '2147483647 nf_confirm'],
      'ipv4 LOCAL_OUT': ['-400 ipv4_conntrack_defrag', '-200 ipv4_conntrack_local'],
      'ipv4 POST_ROUTING': ['-225 apparmor_ip_postroute', '2147483647 nf_confirm'],
      'ipv6 LOCAL_IN': ['0 nft_do_chain_ipv6', '2147483647 nft_do_chain_inet'],
      'ipv6 POST_ROUTING': ['-225 apparmor_ip_postroute'],
    });
  });
  it('names each chain as nft does: iptables-nft as ip filter INPUT, the inet chain as inet late in', () => {
    const inp = parseNftHooks(text).find((h) => h.family === 'ipv4' && h.hook === 'LOCAL_IN')!;
    expect(inp.entries.map((e) => e.chain ?? null)).toEqual([
      { family: 'ip', table: 'filter', chain: 'INPUT' }, { family: 'inet', table: 'late', chain: 'in' }, null,
    ]);
  });
  it('agrees with the BTF walk of the same netns', () => {
    const bt = parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures/bpftrace', k, 'conntrack-nft', 'stdout.jsonl'), 'utf8'))));
    expect(view(parseNftHooks(text))).toEqual(view(bt.hooks));
  });
  it('truncated or garbled: a typed error with the line', () => {
    const lines = text.split('\n');
    expect(() => parseNftHooks(lines.slice(0, 3).join('\n') + '\n\t\t-00000004')).toThrow(ParseError);
    expect(() => parseNftHooks('family ipx {\n')).toThrow(/line 1: unknown family/);
    expect(() => parseNftHooks('\thook input {\n')).toThrow(/hook outside a family/);
    expect(parseNftHooks('')).toEqual([]);
  });
});
