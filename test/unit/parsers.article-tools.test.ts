/**
 * The article's own tools' output (run in the micro-VM on Debian 6.1 by
 * scripts/capture/article-tools-vm.mjs; meta.json beside each), read into
 * nfscope's models.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseListNfHooks, parseTraceConntrackPrerouting } from '../../src/parsers/article-tools.js';
import { parseDrgnHooks } from '../../src/parsers/drgn-hooks.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

const F = (rel: string) => readFileSync(join(ROOT, 'test/fixtures/article/6.1.0-56-amd64', rel), 'utf8');
const view = (hs: { family: string; hook: string; entries: { priority: number; callback: string; owner: string; conntrack: boolean }[] }[]) =>
  Object.fromEntries(hs.map((h) => [`${h.family} ${h.hook}`, h.entries.map((e) => `${e.priority} ${e.callback} ${e.owner}${e.conntrack ? ' ct' : ''}`)]));

describe('list-nf-hooks (drgn, init_net) on Debian 6.1', () => {
  const r = parseListNfHooks(F('list-nf-hooks/stdout.txt'));
  it('equals nfscope\'s own drgn backend on the same kernel and namespace', () => {
    // nf_hooks.py.jsonl: what `nfscope hooks --backend drgn` runs (drgn nf_hooks.py self 3), same VM, same moment.
    expect(view(r.hooks)).toEqual(view(parseDrgnHooks(F('list-nf-hooks/nf_hooks.py.jsonl'))));
    expect(view(r.hooks)['ipv4 LOCAL_IN']).toEqual(['0 nft_do_chain_ipv4 nftables', '2147483647 ipv4_confirm conntrack ct']);
    expect(r.warnings).toEqual([]); // its INGRESS sections were empty here
  });
  it('an INGRESS entry (read one past the array) is left out with a warning; garbage is a ParseError', () => {
    const w = parseListNfHooks('🪝 ipv4 INGRESS\n       -400 → ipv6_defrag\n\n🪝 ipv4 LOCAL_IN\n          0 → a, b\n');
    expect(w.hooks).toEqual([{ family: 'ipv4', hook: 'LOCAL_IN', entries: [expect.objectContaining({ priority: 0, callback: 'a' }), expect.objectContaining({ priority: 0, callback: 'b' })] }]);
    expect(w.warnings[0]).toMatch(/ipv4 INGRESS entry -400 → ipv6_defrag left out/);
    expect(() => parseListNfHooks('🪝 ipv4 LOCAL_IN\n  x → y\n')).toThrow(ParseError);
    expect(() => parseListNfHooks('hello\n')).toThrow(ParseError);
  });
});

describe('trace-conntrack-prerouting.bt on Debian 6.1: two SYNs to port 2570', () => {
  it('each SYN met ipv4_conntrack_defrag, then ipv4_conntrack_in', () => {
    const hits = parseTraceConntrackPrerouting(F('trace-conntrack-prerouting/stdout.txt'));
    expect(hits.map((h) => h.callback)).toEqual(['ipv4_conntrack_defrag', 'ipv4_conntrack_in', 'ipv4_conntrack_defrag', 'ipv4_conntrack_in']);
    expect(new Set(hits.map((h) => h.dst))).toEqual(new Set(['198.18.70.2:2570']));
    expect(new Set(hits.map((h) => h.src)).size).toBe(2);
  });
});
