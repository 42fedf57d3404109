import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FunctionGraphParser, parseFunctionGraph, PathAggregate } from '../../src/parsers/function-graph.js';
import { findPath, type CallNode } from '../../src/model/call-tree.js';
import { CallAggregate, countNodes, traceLineFacts } from '../helpers/call-tree-oracle.js';
import { cutAtRoots } from '../../src/analysis/graph.js';
import { ALLOC_PATH } from '../../src/model/graph.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real captures, each with meta.json (argv, tool, kernel): nfscope graph with NFSCOPE_CAPTURE_DIR, scripts/capture/fgraph-tracecmd.sh. */
const fx = (rel: string) => readFileSync(join(ROOT, 'test/fixtures/function_graph', rel, 'trace.txt'));
const SYN61 = fx('6.1.0-57-amd64/syn-ipv4-iptables');
const SYN612 = fx('6.12.118+deb12-amd64/syn-ipv6-nft');
const TRACECMD = fx('6.1.0-56-amd64/trace-cmd-report');
const TWOCPU = fx('6.1.0-56-amd64/two-cpus-interleaved');

function aggregate(buf: Buffer, chunk?: number): CallNode[] {
  const agg = new CallAggregate();
  const p = new FunctionGraphParser((r) => agg.add(r.tree));
  if (chunk) for (let i = 0; i < buf.length; i += chunk) p.push(buf.subarray(i, i + chunk));
  else p.push(buf);
  p.end();
  return agg.roots;
}

function parseError(input: string | Buffer): ParseError {
  try {
    parseFunctionGraph(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error('no ParseError');
}

describe('function_graph on Debian 6.1 (tracefs, one SYN dropped by iptables)', () => {
  const { roots, stats } = parseFunctionGraph(SYN61);
  const trees = cutAtRoots(roots, ['ipv4_conntrack_in', 'kfree_skb_reason']);
  it('finds nf_conntrack_in → init_conntrack → __nf_conntrack_alloc under ipv4_conntrack_in', () => {
    const path = findPath(trees.map((t) => t.tree), ALLOC_PATH)!;
    expect(path.map((n) => n.fn)).toEqual(['nf_conntrack_in', 'init_conntrack.constprop.0', '__nf_conntrack_alloc']);
    expect(path.every((n) => n.module === 'nf_conntrack')).toBe(true);
    expect(trees[0]!.tree.fn).toBe('ipv4_conntrack_in');
    expect(trees[0]!.comm).toBe('python3');
    expect(trees[0]!.pid).toBeGreaterThan(1);
  });
  it('durations nest: a child never takes longer than its parent', () => {
    const check = (n: CallNode) => {
      for (const c of n.children) {
        expect(c.durationUs!).toBeLessThanOrEqual(n.durationUs!);
        check(c);
      }
    };
    trees.forEach((t) => check(t.tree));
    const { records, cpus } = traceLineFacts(SYN61.toString());
    expect(stats).toMatchObject({ records, unfinished: 0, orphanReturns: 0, lostEvents: 0, cpus, tracer: 'function_graph' });
  });
  it('the free path frees the entry unconfirmed inside kfree_skb_reason', () => {
    const free = trees.find((t) => t.tree.fn === 'kfree_skb_reason')!;
    expect(findPath([free.tree], ['skb_release_head_state', 'nf_ct_destroy', 'nf_conntrack_free'])).not.toBeNull();
  });
  it('every record lands in exactly one node', () => {
    const calls = (n: CallNode): number => n.count + n.children.reduce((s, c) => s + calls(c), 0) - (n.children.length ? 0 : 0);
    // entries+leaves = records - returns; count the calls the trees hold.
    const returns = SYN61.toString().split('\n').filter((l) => /\|\s+}\s*$/.test(l)).length;
    expect(roots.reduce((s, r) => s + calls(r.tree), 0)).toBe(stats.records - returns);
  });
});

describe('function_graph on Debian 6.12 (ftrace instance, ipv6, nft)', () => {
  it('finds the allocation path under ipv6_conntrack_in and the free under sk_skb_reason_drop (the 6.11+ name)', () => {
    const { roots, stats } = parseFunctionGraph(SYN612);
    const trees = cutAtRoots(roots, ['ipv6_conntrack_in', 'sk_skb_reason_drop']);
    expect(findPath(trees.map((t) => t.tree), ALLOC_PATH)).not.toBeNull();
    expect(trees.some((t) => t.tree.fn === 'sk_skb_reason_drop' && findPath([t.tree], ['nf_conntrack_free']))).toBe(true);
    expect(stats.cpus).toEqual(traceLineFacts(SYN612.toString()).cpus);
  });
});

describe('trace-cmd report (trace-cmd 3.1.6, 6.1)', () => {
  const { roots, stats } = parseFunctionGraph(TRACECMD);
  it('reads CPU and task from "comm-pid [cpu] ts: funcgraph_entry:"', () => {
    expect(stats.cpus).toEqual([0, 1]);
    expect(stats.records).toBe(5118);
    const syns = roots.filter((r) => r.tree.fn === 'nf_hook_slow' && findPath([r.tree], ALLOC_PATH));
    expect(syns.length).toBe(2); // two SYNs sent
    expect(syns[0]!.comm).toBe('python3');
  });
  it('an idle task entering on CPU 1 and the return on CPU 0 are not stitched together: 1 unfinished, 1 orphan', () => {
    expect(stats.unfinished).toBe(1);
    expect(stats.orphanReturns).toBe(1);
  });
});

describe('two CPUs interleaved (6.1 tracefs, 2 × 20 SYNs pinned to CPU 0 and 1)', () => {
  const whole = aggregate(TWOCPU);
  it('per-task stacks: the interleaved trace gives the same aggregate as each CPU parsed alone', () => {
    const lines = TWOCPU.toString().split('\n');
    const cpu = (n: number) => lines.filter((l) => l.startsWith('#') || l.startsWith(' --') || l.startsWith(` ${n})`)).join('\n') + '\n';
    const separate = new CallAggregate();
    for (const n of [0, 1]) aggregate(Buffer.from(cpu(n))).forEach((t) => separate.add(t));
    // Durations are sums in another order: equal to the nanosecond, not to the last bit.
    type N = { fn: string; count: number; ns: number; children: N[] };
    const norm = (ns: CallNode[]): N[] => ns.map((n) => ({ fn: n.fn, count: n.count, ns: Math.round((n.durationUs ?? 0) * 1000), children: norm(n.children) })).sort((a, b) => a.fn.localeCompare(b.fn));
    expect(norm(whole)).toEqual(norm(separate.roots));
    expect(whole.length).toBeGreaterThan(2);
  });
  it('counts 40 entries allocated on the nf_conntrack_in → init_conntrack path', () => {
    const path = findPath(whole, ALLOC_PATH)!;
    expect(path.at(-1)!.count).toBe(40);
    const { stats } = parseFunctionGraph(TWOCPU);
    expect(stats.cpus).toEqual([0, 1]);
    expect(stats.taskSwitches).toBeGreaterThan(0);
  });
  it('the streaming path aggregate (no node per call) equals merging the built trees', () => {
    for (const buf of [TWOCPU, TRACECMD, SYN61]) {
      const agg = new PathAggregate();
      const p = new FunctionGraphParser(agg);
      p.push(buf);
      p.end();
      const trees = new CallAggregate();
      parseFunctionGraph(buf).roots.forEach((r) => trees.add(r.tree));
      type N = { fn: string; count: number; ns: number; u: number; children: N[] };
      const norm = (ns: CallNode[]): N[] => ns.map((n) => ({ fn: n.fn, count: n.count, ns: Math.round((n.durationUs ?? 0) * 1000), u: n.unfinished ?? 0, children: norm(n.children) }));
      expect(norm(agg.roots)).toEqual(norm(trees.roots));
    }
  });
  it('chunk boundaries anywhere give the same result (streaming)', () => {
    const ref = JSON.stringify(whole);
    for (const size of [1, 7, 64, 4093]) expect(JSON.stringify(aggregate(TWOCPU, size))).toBe(ref);
  });
});

describe('bad input: a typed error with line number and excerpt, never a crash or a silent partial result', () => {
  it('empty input', () => {
    expect(parseError('').message).toMatch(/empty input/);
    expect(parseError('# tracer: function_graph\n#\n').message).toMatch(/no function_graph records/);
  });
  it('garbage text and binary', () => {
    const e = parseError(' 1)  python3-169   |               |  nf_conntrack_in() {\nhello world\n');
    expect(e.line).toBe(2);
    expect(e.excerpt).toBe('hello world');
    const bin = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256));
    expect(parseError(bin)).toBeInstanceOf(ParseError);
  });
  it('a line cut short at the end of the file says so', () => {
    const text = SYN61.toString();
    const cut = text.slice(0, text.indexOf('init_conntrack') + 8);
    const e = parseError(cut);
    expect(e.message).toMatch(/truncated/);
    expect(e.line).toBe(cut.split('\n').length);
  });
  it('a file cut at a line boundary: the open calls are reported unfinished, not dropped', () => {
    const text = SYN61.toString();
    const at = text.indexOf('\n', text.indexOf('__nf_conntrack_alloc')) + 1;
    const { roots, stats } = parseFunctionGraph(text.slice(0, at));
    expect(stats.unfinished).toBe(5); // nf_hook_slow, ipv4_conntrack_in, nf_conntrack_in, init_conntrack, __nf_conntrack_alloc
    expect(findPath(roots.map((r) => r.tree), ALLOC_PATH)!.every((n) => n.unfinished === 1 && n.durationUs === null)).toBe(true);
  });
  it('another tracer\'s output', () => {
    expect(parseError('# tracer: function\n#\n            bash-1 [000] ..... 1.0: foo <-bar\n').message).toMatch(/not a function_graph line|function tracer/);
  });
  it('a line longer than the limit, and a tree larger than the limit', () => {
    expect(parseError(Buffer.alloc(100_000, 0x41)).message).toMatch(/longer than 65536 bytes/);
    const lines = [' 0)               |  a() {', ...Array.from({ length: 50 }, (_, i) => ` 0)   0.100 us    |    f${i}();`)].join('\n') + '\n';
    expect(() => parseFunctionGraph(lines, { maxTreeNodes: 20 })).toThrow(/more than 20 calls/);
  });
  it('a task whose comm holds "|", ")" and "=>" parses like the real line it was made from', () => {
    const hostile = SYN61.toString().replaceAll('python3-', 'a|b) =>-');
    const a = parseFunctionGraph(SYN61).roots.map((r) => r.tree);
    const b = parseFunctionGraph(hostile).roots.map((r) => r.tree);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(b.reduce((n, t) => n + countNodes(t), 0)).toBeGreaterThan(100);
  });
});
