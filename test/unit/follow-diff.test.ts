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

  it('a DNAT: what the rewrite changed, not the client\'s port: two connections take one path', () => {
    const [dnat] = readFileSync(join(ROOT, 'test/fixtures/follow/6.1.0-57-amd64/dnat/packets.jsonl'), 'utf8').trim().split('\n').map((l, i) => parseFollowLine(l, 'dnat', i + 1) as FollowPacket);
    expect(packetPath(dnat!, { callbacks: true, nftrace: true })).toContain('PRE_ROUTING nat by nf_nat_ipv4_pre_routing: destination → 198.19.80.2 port 2581');
    const other = clone(dnat!);
    other.id = 2;
    other.tuple.sport = 50000;
    for (const n of other.nat) { n.before.sport = 50000; n.after.sport = 50000; }
    const t = tally([dnat!, other]);
    expect([...t.kinds.get('ipv4 tcp syn to port 2580')!.values()].map((x) => x.count)).toEqual([2]);
  });

  it('the same paths, but most packets take another one: differs, at the usual paths\' parting', () => {
    const [syn] = records(VM).filter((r): r is FollowPacket => r.type === 'packet');
    const dropped = clone(syn!);
    const accepted = clone(syn!);
    accepted.hooks![1]!.callbacks[0]!.verdict = 'ACCEPT';
    const run = (d: number, acc: number) => tally([...Array(d).fill(dropped), ...Array(acc).fill(accepted)].map((p, i) => ({ ...clone(p), id: i + 1 })));
    const r = compareRuns(run(2, 1), 'a', run(1, 2), 'b');
    const k = r.kinds[0]!;
    expect(k.verdict).toBe('differs');
    expect([k.firstDifference!.a, k.firstDifference!.b]).toEqual(['LOCAL_IN nft_do_chain_ipv4 DROP', 'LOCAL_IN nft_do_chain_ipv4 ACCEPT']);
    expect(compareRuns(run(2, 1), 'a', run(3, 1), 'b').kinds[0]!.verdict).toBe('same');
  });

  it('paths mode (the default): printed packets are each path\'s first and every drop, so the usual path is not compared, and a note says so', () => {
    // The real paths run (test/e2e/guest/follow-cases.sh, case paths): 3 accepted packets printed
    // (of 20), then 8 drops, each printed. Its printed counts favour the drop path, the kernel's not.
    const made = readFileSync(join(ROOT, 'test/fixtures/follow/6.1.0-57-amd64/paths/packets.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FollowPacket);
    const a = tally(made);
    // b: the same paths, with four of the five drops of the third phase (#5-#8) left out.
    const fewer = made.filter((p) => p.id < 5 || p.id > 8);
    const b = tally(fewer);
    expect(a.pathsKept).toBe(true);
    const r = compareRuns(a, 'a', b, 'b');
    expect(r.kinds.map((k) => k.verdict)).toEqual(['same']);
    expect(r.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^a \(a\) kept paths in the kernel .* which path most packets took is not compared/)]));
    // The same packets read as every-packet runs (no `counted`): the third phase's drop path is a's usual, not b's.
    const plain = (ps: FollowPacket[]) => tally(ps.map(({ counted: _c, ...p }) => p as FollowPacket));
    expect(compareRuns(plain(made), 'a', plain(fewer), 'b').kinds[0]!.verdict).toBe('differs');
  });

  it('a path only b has is set against a\'s path that shares the most with it', () => {
    const [syn] = records(VM).filter((r): r is FollowPacket => r.type === 'packet');
    const x = clone(syn!);
    const y = clone(syn!);
    y.hooks![0]!.callbacks[1]!.verdict = 'DROP'; // parts at step 1 from x
    const z = clone(syn!);
    z.conntrack!.ctinfo = 'ESTABLISHED'; // parts from x only at conntrack's view
    const run = (ps: FollowPacket[]) => tally(ps.map((p, i) => ({ ...clone(p), id: i + 1 })));
    const r = compareRuns(run([y, y, x]), 'a', run([y, y, x, z]), 'b');
    const d = r.kinds[0]!.firstDifference!;
    expect(r.kinds[0]!.verdict).toBe('differs');
    expect([d.a, d.b]).toEqual(['conntrack NEW after ipv4_conntrack_in', 'conntrack ESTABLISHED after ipv4_conntrack_in']);
  });

  it('a run whose summary says callbacks were there keeps them compared when one packet lacks them (a lost record), and says what was lost', () => {
    const recs = records(VM);
    const summary = recs.find((r): r is FollowSummary => r.type === 'summary')!;
    const gap = clone(recs);
    const pkt = gap.find((r): r is FollowPacket => r.type === 'packet' && r.tuple.dport === 2574)!;
    pkt.hooks = null;
    pkt.conntrack = null;
    gap.find((r): r is FollowSummary => r.type === 'summary')!.lost.callbacks = 1;
    expect(summary.sources.find((s) => s.name === 'callbacks')!.available).toBe(true);
    const r = compareRuns(tally(recs), 'a', tally(gap), 'b');
    expect(r.compared.callbacks).toBe(true);
    expect(r.kinds.find((k) => k.kind === 'ipv4 tcp syn to port 2571')!.verdict).toBe('same');
    expect(r.kinds.find((k) => k.kind === 'ipv4 tcp ack to port 2574')!.verdict).toBe('differs');
    expect(r.notes.join('\n')).toMatch(/b \(b\) lost 1 callback record/);
  });

  it('bounded: kinds past MAX_KINDS are counted, not kept', () => {
    const [syn] = records(VM).filter((r): r is FollowPacket => r.type === 'packet');
    const t = new RunTally();
    for (let i = 0; i < MAX_KINDS + 50; i++) t.add({ ...clone(syn!), id: i + 1, tuple: { ...syn!.tuple, dport: 3000 + i } });
    expect(t.kinds.size).toBe(MAX_KINDS);
    expect(t.notKept).toEqual({ kinds: 50, packets: 50 });
    // A kind only in the other run may be among those not kept: said.
    const r = compareRuns(t, 'big', tally(records(VM)), 'small');
    expect(r.notes.join('\n')).toMatch(/a \(big\) kept 200 kinds of packet .*50 more kind\(s\).*may be among them/);
  });
});

describe('parseFollowLine', () => {
  it('takes follow\'s records and nothing else', () => {
    expect(parseFollowLine('', 'x', 1)).toBeNull();
    expect(() => parseFollowLine('{"kernel":"6.1"}', 'x', 1)).toThrow(/not a follow record/);
    expect(() => parseFollowLine('{"schemaVersion":2,"type":"packet"}', 'x', 1)).toThrow(/schemaVersion 2/);
    const tuple = '{"family":"ipv4","proto":"tcp","src":"a","dst":"b","sport":1,"dport":2,"tcpFlags":null}';
    const pkt = (rest: string) => `{"schemaVersion":1,"type":"packet","id":1,"tuple":${tuple},"fate":{"kind":"unknown"},${rest}}`;
    expect(parseFollowLine(pkt('"hooks":null,"nft":null,"conntrack":null,"drop":null,"nat":[]'), 'x', 1)).toMatchObject({ type: 'packet' });
    expect(() => parseFollowLine('{"schemaVersion":1,"type":"packet","id":1,"tuple":{},"fate":{"kind":"unknown"}}', 'x', 1)).toThrow(/a tuple without/);
    expect(() => parseFollowLine(pkt('"hooks":[{"hook":"X"}],"nft":null,"conntrack":null,"drop":null,"nat":[]'), 'x', 1)).toThrow(/hooks/);
    expect(() => parseFollowLine(pkt('"hooks":null,"nft":null,"conntrack":{"after":"x"},"drop":null,"nat":[]'), 'x', 1)).toThrow(/conntrack/);
    expect(() => parseFollowLine(pkt('"hooks":null,"nft":null,"conntrack":null,"drop":null,"nat":[{"hook":"X","callback":"y","before":{}}]'), 'x', 1)).toThrow(/nat/);
    expect(() => parseFollowLine('[1,2', 'x', 3)).toThrow(/not JSON/);
  });
});
