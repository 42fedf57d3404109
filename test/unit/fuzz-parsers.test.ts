/**
 * Every parser fed mutated real captures (truncated anywhere, bytes flipped,
 * lines duplicated, dropped and swapped, random bytes, binary): it returns a
 * result or throws ParseError; never a TypeError, a RangeError or a hang. The
 * generator is seeded: a failure prints the seed and the case to replay.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/lib/errors.js';
import { parseFunctionGraph } from '../../src/parsers/function-graph.js';
import { parseKstacks } from '../../src/parsers/kstack.js';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { parseConntrackList } from '../../src/parsers/conntrack.js';
import { parseNftHooks } from '../../src/parsers/nft-hooks.js';
import { parseDrgnHooks } from '../../src/parsers/drgn-hooks.js';
import { parseBpftraceHooks } from '../../src/parsers/bpftrace-hooks.js';
import { parseCtSyn } from '../../src/parsers/ct-syn.js';
import { parseKfreeSkb } from '../../src/parsers/kfree-skb.js';
import { parseCtLife } from '../../src/parsers/ct-life.js';
import { parseIptablesSaveCounters, parseNftJsonCounters } from '../../src/parsers/counters.js';
import { readdirSync } from 'node:fs';
import { kallsymsTable, nameHookAddresses } from '../../src/parsers/hook-addresses.js';
import { parseListNfHooks, parseTraceConntrackPrerouting } from '../../src/parsers/article-tools.js';
import { ROOT } from '../helpers/sys.js';
import { parseNftTrace } from '../../src/parsers/nft-trace.js';
import { parseFollowDrops } from '../../src/parsers/follow-drop.js';
import { parseFollowCb } from '../../src/parsers/follow-cb.js';
import { parseConntrackEvents } from '../../src/parsers/conntrack-events.js';
import { parseNftChainHooks } from '../../src/parsers/nft-chains-json.js';
import { parseSs } from '../../src/parsers/ss.js';
import { parseFollowLine } from '../../src/parsers/follow-ndjson.js';
import { compareRuns, RunTally } from '../../src/analysis/follow-diff.js';
// @ts-expect-error: the seeded generator of the fault-injection script (plain .mjs)
import { rng } from '../../scripts/fault/inject.mjs';

/** The kernel the counter fixtures were captured on (one directory). */
const COUNTERS = readdirSync(join(ROOT, 'test/fixtures/counters'))[0]!;
/** A kernel with a captured follow run in the micro-VM (callback records). */
const FOLLOW_VM = readdirSync(join(ROOT, 'test/fixtures/follow')).find((k) => k.startsWith('6.1.'))!;
const fx = (rel: string) => readFileSync(join(ROOT, 'test/fixtures', rel), 'utf8');
/** printf records as the live code sees them: JSON events → printf lines. */
const records = (text: string) => printfLines(parseBpftraceJson(text));

const PARSERS: { name: string; input: string; parse: (s: string) => unknown }[] = [
  { name: 'function-graph (tracefs)', input: fx('function_graph/6.1.0-57-amd64/syn-ipv4-iptables/trace.txt'), parse: (s) => parseFunctionGraph(s) },
  { name: 'function-graph (trace-cmd)', input: fx('function_graph/6.1.0-56-amd64/trace-cmd-report/trace.txt').split('\n').slice(0, 300).join('\n') + '\n', parse: (s) => parseFunctionGraph(s) },
  { name: 'kstack text', input: fx('kstack/6.18.44-fc-v657/closed-port/text.out'), parse: parseKstacks },
  { name: 'kstack json', input: fx('kstack/6.18.44-fc-v657/closed-port/json.out'), parse: parseKstacks },
  { name: 'bpftrace json', input: fx('ct_syn/6.1.0-56-amd64/ipv4-iptables-count3/stdout.jsonl'), parse: parseBpftraceJson },
  { name: 'ct_syn records', input: fx('ct_syn/6.1.0-56-amd64/ipv4-iptables-count3/stdout.jsonl'), parse: (s) => parseCtSyn(records(s)) },
  { name: 'kfree_skb records', input: fx('kfree_skb_syn/6.18.44-fc-v657/ipv4-iptables-count2/stdout.jsonl'), parse: (s) => parseKfreeSkb(records(s)) },
  { name: 'nf_hooks.bt records', input: fx('bpftrace/6.18.44-fc-v657/conntrack-netdev/stdout.jsonl'), parse: (s) => parseBpftraceHooks(records(s)) },
  { name: 'conntrack -L', input: fx('conntrack/6.18.44-fc-v657/loopback-flows/extended.txt'), parse: parseConntrackList },
  { name: 'nft list hooks', input: fx('nft/6.12.117+deb12-amd64/conntrack-nft/stdout.txt'), parse: parseNftHooks },
  { name: 'drgn nf_hooks.py', input: fx('drgn/6.1.0-56-amd64/conntrack-nft/stdout.jsonl'), parse: parseDrgnHooks },
  { name: 'ct_life.bt', input: fx('ct_life/6.1.0-56-amd64/burst-200syn-100connect/stdout.jsonl'), parse: (s) => parseCtLife(parseBpftraceJson(s), s) },
  { name: 'nft -j counters', input: fx(`counters/${COUNTERS}/nft-drop/stdout.json`), parse: (s) => parseNftJsonCounters(s, 'input') },
  { name: 'list-nf-hooks (the article)', input: fx('article/6.1.0-56-amd64/list-nf-hooks/stdout.txt'), parse: parseListNfHooks },
  { name: 'trace-conntrack-prerouting.bt (the article)', input: fx('article/6.1.0-56-amd64/trace-conntrack-prerouting/stdout.txt'), parse: parseTraceConntrackPrerouting },
  {
    name: 'hook listing server answer, named from kallsyms',
    input: fx('hook-server/6.1.0-56-amd64/answer.txt'),
    parse: (s) => parseBpftraceHooks(nameHookAddresses(s.split('\n').filter(Boolean), kallsymsTable(fx('hook-server/6.1.0-56-amd64/kallsyms.txt'))).lines),
  },
  { name: 'nft -a monitor (trace)', input: fx('follow/6.18.44-fc-v657/accept/nft-monitor.txt'), parse: (s) => parseNftTrace(s) },
  { name: 'follow_drop.bt records', input: fx('follow/6.18.44-fc-v657/drop/follow_drop.jsonl'), parse: (s) => parseFollowDrops(records(s)) },
  { name: 'conntrack -E', input: fx('follow/6.18.44-fc-v657/accept/conntrack-events.txt'), parse: parseConntrackEvents },
  {
    name: 'follow_cb.bt hook records (a captured follow run)',
    input: fx(`follow/${FOLLOW_VM}/dnat/events.jsonl`).split('\n').filter((l) => l.includes('"callbacks"')).map((l) => JSON.parse(l).line).join('\n'),
    parse: (s) => parseFollowCb(records(s)),
  },
  {
    name: 'follow_cb.bt per-callback records (an older captured run)',
    input: fx(`follow/${FOLLOW_VM}/dnat.per-callback/events.jsonl`).split('\n').filter((l) => l.includes('"callbacks"')).map((l) => JSON.parse(l).line).join('\n'),
    parse: (s) => parseFollowCb(records(s)),
  },
  { name: 'nft -j list chains', input: fx('follow/6.18.44-fc-v657/chains/stdout.json'), parse: parseNftChainHooks },
  { name: 'iptables-save -c counters', input: fx(`counters/${COUNTERS}/iptables-drop/stdout.txt`), parse: (s) => parseIptablesSaveCounters(s, 'INPUT') },
  { name: 'ss -H -n -p', input: fx('ss/6.18.44-fc-v1272/listen-udp/ss.txt'), parse: parseSs },
  {
    // Read as follow --diff reads it, then compared with itself: what the parser lets through, the analysis takes.
    name: 'follow --json run (follow --diff)',
    input: fx('follow-runs/6.1.0-57-amd64/drops/follow.ndjson'),
    parse: (s) => {
      const t = new RunTally();
      s.split('\n').forEach((l, i) => { const r = parseFollowLine(l, 'run', i + 1); if (r?.type === 'packet') t.add(r); else if (r) t.summary = r; });
      return compareRuns(t, 'a', t, 'b');
    },
  },
];

/** Adversarial shapes (issue 15): deep nesting, one huge line, a flood of one byte. Each must end in a ParseError quickly. */
const HOSTILE_SHAPES: { how: string; text: () => string }[] = [
  { how: '1,000,000 × [', text: () => '['.repeat(1_000_000) },
  { how: '1,000,000 × {"a":', text: () => '{"a":'.repeat(1_000_000) },
  { how: 'a 33 MiB line', text: () => `{"type":"printf","data":"${'x'.repeat(33 << 20)}"}` },
  { how: '4 MiB of newlines and [', text: () => '[\n'.repeat(2 << 20) },
];

const SEED = Number(process.env.NFSCOPE_FUZZ_SEED ?? 20261127);
const CASES = Number(process.env.NFSCOPE_FUZZ_CASES ?? 300);

function mutate(s: string, r: () => number): { how: string; text: string } {
  const at = Math.floor(r() * s.length);
  const lines = s.split('\n');
  const li = Math.floor(r() * lines.length);
  const lj = Math.floor(r() * lines.length);
  switch (Math.floor(r() * 8)) {
    case 0: return { how: `truncate at ${at}`, text: s.slice(0, at) };
    case 1: return { how: `flip byte ${at}`, text: s.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + s.slice(at + 1) };
    case 2: return { how: `drop line ${li}`, text: lines.filter((_, i) => i !== li).join('\n') };
    case 3: return { how: `duplicate line ${li}`, text: [...lines.slice(0, li + 1), lines[li], ...lines.slice(li + 1)].join('\n') };
    case 4: return { how: `swap lines ${li},${lj}`, text: lines.map((l, i) => (i === li ? lines[lj] : i === lj ? lines[li] : l)).join('\n') };
    case 5: return { how: `insert garbage at ${at}`, text: s.slice(0, at) + Array.from({ length: 1 + Math.floor(r() * 40) }, () => String.fromCharCode(Math.floor(r() * 256))).join('') + s.slice(at) };
    case 6: return { how: `cut line ${li} in half`, text: lines.map((l, i) => (i === li ? l.slice(0, Math.floor(l.length / 2)) : l)).join('\n') };
    default: return { how: 'binary', text: Array.from({ length: 1 + Math.floor(r() * 2000) }, () => String.fromCharCode(Math.floor(r() * 256))).join('') };
  }
}

describe.each(PARSERS)('$name: mutated real input gives a result or a ParseError', (p) => {
  it(`${CASES} mutations (seed ${SEED})`, () => {
    expect(() => p.parse(p.input)).not.toThrow(); // the real capture itself parses
    const r = rng(SEED + p.name.length);
    const typed: Record<string, number> = { ok: 0, ParseError: 0 };
    for (let i = 0; i < CASES; i++) {
      const m = mutate(p.input, r);
      try {
        p.parse(m.text);
        typed.ok!++;
      } catch (e) {
        if (!(e instanceof ParseError)) throw new Error(`seed ${SEED} case ${i} (${m.how}): ${(e as Error).name}: ${(e as Error).message}`);
        expect(e.line).toBeGreaterThanOrEqual(0);
        typed.ParseError!++;
      }
    }
    // Mutations must be caught, not all swallowed: most inputs are damaged somewhere.
    expect(typed.ParseError).toBeGreaterThan(0);
  });
});

describe.each(PARSERS)('$name: adversarial shapes end in a ParseError, fast', (p) => {
  it.each(HOSTILE_SHAPES)('$how', ({ text }) => {
    const input = text();
    const t0 = performance.now();
    let err: unknown = null;
    try {
      p.parse(input);
    } catch (e) {
      err = e;
    }
    // A result is fine only if the parser had nothing to object to; a non-ParseError never is.
    if (err !== null && !(err instanceof ParseError)) throw err;
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
