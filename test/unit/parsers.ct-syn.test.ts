import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { parseCtSyn } from '../../src/parsers/ct-syn.js';
import { parseBpftraceHooks } from '../../src/parsers/bpftrace-hooks.js';
import { parseKfreeSkb } from '../../src/parsers/kfree-skb.js';
import { callbackHits, unconfirmedLife } from '../../src/analysis/ct-syn.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real tracer output kept by NFSCOPE_CAPTURE_DIR=test/fixtures nfscope trace-syn …; meta.json beside each. */
const lines = (rel: string) => printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures', rel, 'stdout.jsonl'), 'utf8')));

describe('ct_syn.bt on Debian 6.1: 3 SYNs dropped at LOCAL_IN', () => {
  const t = parseCtSyn(lines('ct_syn/6.1.0-56-amd64/ipv4-iptables-count3'));
  it('three entries, each freed unconfirmed, though the slab reused one address', () => {
    expect(new Set(t.allocs.map((a) => a.ct)).size).toBe(1);
    const u = unconfirmedLife(t);
    expect(u).toMatchObject({ allocated: 3, confirmed: 0, freedUnconfirmed: 3 });
    expect(u.lifetimeUs!.min).toBeGreaterThan(0);
    expect(u.lifetimeUs!.min).toBeLessThanOrEqual(u.lifetimeUs!.p50);
    expect(u.destroyStack.map((f) => f.replace(/\+\d+$/, ''))).toEqual(expect.arrayContaining(['nf_conntrack_free', 'skb_release_head_state', 'nf_hook_slow']));
  });
  it('the conntrack callback that saw them, at its hook', () => {
    // Captured with ct_syn.bt before it printed returns: no verdict is made up for them.
    expect(callbackHits(t, [], 'ipv4')).toEqual([{ hook: 'PRE_ROUTING', priority: null, callback: 'ipv4_conntrack_in', owner: null, conntrack: false, hits: 3, verdicts: {}, verdict: null, dropped: false }]);
    expect(t.drops.map((d) => d.reasonCode)).toEqual([7, 7, 7]);
  });
});

describe('ct_syn.bt with returns, Debian 6.1: every callback that saw the SYN, with its verdict', () => {
  const t = parseCtSyn(lines('ct_syn/6.1.0-56-amd64/ipv4-iptables-count1'));
  // A real nf_hooks.bt listing of the same kernel with conntrack and iptables-nft rules (its own meta.json):
  // the priorities and owners of the callbacks the SYN met.
  const hooks = parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures/bpftrace/6.1.0-56-amd64/conntrack-nft/stdout.jsonl'), 'utf8')))).hooks;
  it('returns are paired with their calls', () => {
    expect(t.returns.map((r) => `${r.callback}=${r.verdict}`)).toEqual(['ipv4_conntrack_defrag=1', 'ipv4_conntrack_in=1', 'nft_do_chain_ipv4=2']);
  });
  it('defrag and conntrack_in accept it; nf_tables frees it itself (STOLEN, the drop inside it); confirm never runs', () => {
    const drop = { hook: 'LOCAL_IN', callback: 'nft_do_chain_ipv4' };
    const view = callbackHits(t, hooks, 'ipv4', drop).map((h) => `${h.hook} ${h.priority} ${h.callback}${h.conntrack ? ' ct' : ''} ${h.verdict}${h.dropped ? ' dropped' : ''}`);
    expect(view).toEqual([
      'PRE_ROUTING -400 ipv4_conntrack_defrag ACCEPT',
      'PRE_ROUTING -200 ipv4_conntrack_in ct ACCEPT',
      'LOCAL_IN 0 nft_do_chain_ipv4 STOLEN dropped',
    ]);
    // Without the drop's location, STOLEN alone is not called a drop.
    expect(callbackHits(t, hooks, 'ipv4').some((h) => h.dropped)).toBe(false);
    expect(t.drops).toHaveLength(1);
  });
});

describe('ct_syn.bt on Debian 6.12, --after-confirm: confirmed before the drop', () => {
  const t = parseCtSyn(lines('ct_syn/6.12.117+deb12-amd64/ipv4-nft-after-confirm-count2'));
  it('both entries confirmed, none freed during the run', () => {
    expect(unconfirmedLife(t)).toMatchObject({ allocated: 2, confirmed: 2, freedUnconfirmed: 0, lifetimeUs: null });
    const hits = callbackHits(t, [], 'ipv4').map((h) => `${h.callback}@${h.hook}=${h.hits}`);
    expect(hits).toEqual(['ipv4_conntrack_in@PRE_ROUTING=2', 'nf_confirm@LOCAL_IN=2']);
  });
});

describe('kfree_skb_syn.bt on the 6.18 host', () => {
  it('two drops with reason, location and a stack through nf_hook_slow', () => {
    const { ready, drops } = parseKfreeSkb(lines('kfree_skb_syn/6.18.44-fc-v657/ipv4-iptables-count2'));
    expect(ready).toBe(true);
    expect(drops).toHaveLength(2);
    for (const d of drops) {
      expect(d.reasonCode).toBe(12);
      expect(d.stack.map((f) => f.replace(/\+\d+$/, ''))).toContain('nf_hook_slow');
    }
  });
});

describe('damaged tracer output', () => {
  const real = lines('ct_syn/6.1.0-56-amd64/ipv4-iptables-count3');
  it.each([
    [['READY', 'C 1 ipv4_conntrack_in'], /malformed C record/],
    [['X 1 ffff 0'], /malformed X record/],
    [['Q 1 2'], /unknown record/],
    [['READY', '', '        not a frame!'], /stack frame outside a record|not a stack frame/],
  ])('%j → typed error', (input, re) => {
    expect(() => parseCtSyn(input)).toThrow(ParseError);
    expect(() => parseCtSyn(input)).toThrow(re);
  });
  it('truncated mid-record: an error names the line', () => {
    const i = real.findIndex((l) => l.startsWith('X '));
    const cut = [...real.slice(0, i), real[i]!.split(' ').slice(0, 2).join(' ')];
    expect(() => parseCtSyn(cut)).toThrow(new RegExp(`line ${i + 1}:`));
  });
  it('empty: no records, not ready', () => {
    expect(parseCtSyn([])).toMatchObject({ ready: false, allocs: [], drops: [] });
  });
});
