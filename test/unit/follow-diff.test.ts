/**
 * follow --diff on real runs (test/fixtures/follow-runs/<kernel>/<case>/follow.ndjson, meta.json
 * beside each): the paths are what the kernel showed, and a change of one observation on one side
 * must make its kind differ at that step, never anywhere else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { compareRuns, MAX_KINDS, packetKind, packetPath, RunTally } from '../../src/analysis/follow-diff.js';
import { parseFollowLine } from '../../src/parsers/follow-ndjson.js';
import { renderFollowDiff } from '../../src/render/follow-diff.js';
import type { FollowPacket, FollowSummary } from '../../src/model/follow.js';

const FIX = join(ROOT, 'test/fixtures/follow-runs');
const records = (path: string) => readFileSync(join(FIX, path, 'follow.ndjson'), 'utf8').split('\n')
  .map((l, i) => parseFollowLine(l, path, i + 1)).filter((r): r is FollowPacket | FollowSummary => r !== null);
const tally = (recs: (FollowPacket | FollowSummary)[]) => {
  const t = new RunTally();
  for (const r of recs) if (r.type === 'packet') t.add(r); else t.summary = r;
  return t;
};
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

const VM = '6.1.0-57-amd64/drops';
/** Captured on this project's host: no kprobes, so no callbacks (scripts/capture/follow-runs-host.sh). */
const HOST = '6.18.44-fc-v1272';

describe('packetKind and packetPath (6.1, callbacks, rules and drops)', () => {
  const [syn, ack] = records(VM).filter((r): r is FollowPacket => r.type === 'packet');
  it('a kind is family, protocol, flags and the service port with the direction to it', () => {
    expect([packetKind(syn!), packetKind(ack!)]).toEqual(['ipv4 tcp syn to port 2571', 'ipv4 tcp ack to port 2574']);
  });
  it('the path: each callback that ran with its verdict, the rule under the nft callback that ran it, conntrack, the fate; not follow\'s own trace chain', () => {
    // From the capture: nfscope's trace chain (nft_do_chain_inet at -2147483647) ran first at PRE_ROUTING; ipv4_confirm was not reached.
    expect(syn!.hooks![0]!.callbacks[0]).toMatchObject({ callback: 'nft_do_chain_inet', priority: -2147483647 });
    expect(packetPath(syn!, { callbacks: true, nftrace: true })).toEqual([
      'PRE_ROUTING ipv4_conntrack_defrag ACCEPT',
      'PRE_ROUTING ipv4_conntrack_in ACCEPT',
      'LOCAL_IN nft_do_chain_ipv4 DROP',
      '  LOCAL_IN nft ip filter INPUT: tcp dport 2571 counter drop → drop',
      'conntrack NEW after ipv4_conntrack_in',
      'fate: dropped at LOCAL_IN by ip filter INPUT (NETFILTER_DROP)',
    ]);
  });
  it('without callbacks: the rule and the fate only; without rules: the fate names the callback', () => {
    expect(packetPath(syn!, { callbacks: false, nftrace: true })).toEqual([
      'LOCAL_IN nft ip filter INPUT: tcp dport 2571 counter drop → drop',
      'fate: dropped at LOCAL_IN by ip filter INPUT (NETFILTER_DROP)',
    ]);
    expect(packetPath(ack!, { callbacks: true, nftrace: false }).slice(-2)).toEqual([
      'conntrack INVALID (no entry) after ipv4_conntrack_in',
      'fate: dropped at LOCAL_IN by nft_do_chain_ipv4 (NETFILTER_DROP)',
    ]);
  });
});

describe('compareRuns', () => {
  it('a run against itself: every kind the same, exit status 0 material', () => {
    const r = compareRuns(tally(records(VM)), 'a', tally(records(VM)), 'b');
    expect(r.kinds.map((k) => [k.kind, k.verdict])).toEqual([['ipv4 tcp syn to port 2571', 'same'], ['ipv4 tcp ack to port 2574', 'same']]);
    expect(r.compared).toEqual({ callbacks: true, nftrace: true });
    expect(renderFollowDiff(r)).toMatch(/no difference$/);
  });

  it('the host runs before and after the drop rule: they part at the rule; what the host cannot see is left out of both', () => {
    const r = compareRuns(tally(records(`${HOST}/good`)), 'good', tally(records(`${HOST}/bad`)), 'bad');
    expect(r.compared).toEqual({ callbacks: false, nftrace: true });
    const k = r.kinds.find((x) => x.kind === 'ipv4 tcp syn to port 2577')!;
    expect(k.verdict).toBe('differs');
    expect(k.firstDifference).toEqual({
      index: 0, after: null,
      a: 'LOCAL_IN nft ip filter INPUT: policy → accept',
      b: 'LOCAL_IN nft ip filter INPUT: tcp dport 2577 counter drop → drop',
    });
  });

  it('6.1 with callbacks against the host without: callbacks left out of both, said in a note', () => {
    const r = compareRuns(tally(records(VM)), 'vm', tally(records(`${HOST}/bad`)), 'host');
    expect(r.compared.callbacks).toBe(false);
    expect(r.notes.join('\n')).toMatch(/a \(vm\) saw each callback, b \(host\) did not/);
    expect(r.notes.join('\n')).toMatch(/the kernels differ/);
    expect(r.kinds.map((k) => k.verdict)).toEqual(['only in a', 'only in a', 'only in b']);
  });

  // One observation changed on one side: the kind differs, at that step and nowhere before it.
  const mutations: [string, (p: FollowPacket) => void, RegExp][] = [
    ['a callback\'s verdict', (p) => { p.hooks![1]!.callbacks[0]!.verdict = 'ACCEPT'; }, /^LOCAL_IN nft_do_chain_ipv4 ACCEPT$/],
    ['the rule that matched', (p) => { p.nft!.steps[0]!.rule = 'tcp dport 2571 counter packets 0 bytes 0 reject'; }, /reject → drop$/],
    ['conntrack\'s ctinfo', (p) => { p.conntrack!.ctinfo = 'ESTABLISHED'; }, /^conntrack ESTABLISHED/],
    ['the drop reason', (p) => { p.drop!.reason = 'NO_SOCKET'; p.fate = { kind: 'dropped', hook: 'LOCAL_IN', by: 'x', reason: 'NO_SOCKET' }; }, /\(NO_SOCKET\)$/],
  ];
  it.each(mutations)('%s changed on b: differs there', (_, mutate, bStep) => {
    const a = records(VM);
    const b = clone(a);
    mutate(b.find((r): r is FollowPacket => r.type === 'packet' && r.tuple.dport === 2571)!);
    const r = compareRuns(tally(a), 'a', tally(b), 'b');
    const syn = r.kinds.find((k) => k.kind === 'ipv4 tcp syn to port 2571')!;
    expect(syn.verdict).toBe('differs');
    expect(syn.firstDifference!.b).toMatch(bStep);
    expect(syn.a[0]!.steps.slice(0, syn.firstDifference!.index)).toEqual(syn.b[0]!.steps.slice(0, syn.firstDifference!.index));
    expect(r.kinds.find((k) => k.kind === 'ipv4 tcp ack to port 2574')!.verdict).toBe('same');
  });

  it('counters and handles are the ruleset\'s, not the packet\'s: a change of them is no difference', () => {
    const a = records(VM);
    const b = clone(a);
    const syn = b.find((r): r is FollowPacket => r.type === 'packet' && r.tuple.dport === 2571)!;
    syn.nft!.steps[0]!.rule = 'tcp dport 2571 counter packets 7 bytes 420 drop';
    syn.nft!.steps[0]!.handle = 99;
    syn.fate = { kind: 'dropped', hook: 'LOCAL_IN', by: 'ip filter INPUT handle 99', reason: 'NETFILTER_DROP' };
    expect(compareRuns(tally(a), 'a', tally(b), 'b').kinds.every((k) => k.verdict === 'same')).toBe(true);
  });

  it('bounded: kinds past MAX_KINDS are counted, not kept', () => {
    const [syn] = records(VM).filter((r): r is FollowPacket => r.type === 'packet');
    const t = new RunTally();
    for (let i = 0; i < MAX_KINDS + 50; i++) t.add({ ...clone(syn!), id: i + 1, tuple: { ...syn!.tuple, dport: 3000 + i } });
    expect(t.kinds.size).toBe(MAX_KINDS);
    expect(t.notKept).toEqual({ kinds: 50, packets: 50 });
  });
});

describe('parseFollowLine', () => {
  it('takes follow\'s records and nothing else', () => {
    expect(parseFollowLine('', 'x', 1)).toBeNull();
    expect(() => parseFollowLine('{"kernel":"6.1"}', 'x', 1)).toThrow(/not a follow record/);
    expect(() => parseFollowLine('{"schemaVersion":2,"type":"packet"}', 'x', 1)).toThrow(/schemaVersion 2/);
    expect(() => parseFollowLine('{"schemaVersion":1,"type":"packet","id":1,"tuple":{},"fate":{"kind":"unknown"},"hooks":[{"hook":"X"}],"nft":null,"nat":[]}', 'x', 1)).toThrow(/hooks/);
    expect(() => parseFollowLine('[1,2', 'x', 3)).toThrow(/not JSON/);
  });
});
