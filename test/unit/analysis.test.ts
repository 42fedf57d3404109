/**
 * The pure analysis (src/analysis/) on real runs: each lab capture holds the
 * raw outputs of its steps (ct_syn.bt, ct_life.bt, function_graph; meta.json
 * beside each) and the reports nfscope made of them in the same run
 * (inputs.json). Analysing the raw outputs again must give those reports:
 * fixture in, report out, for the callbacks and their verdicts, the
 * unconfirmed entry's life, the drop's attribution, the call trees and the
 * lifetimes accounting.
 * These lock the reports in; test/unit/lab-independent.test.ts checks them
 * against what nfscope did not derive (raw output, counters, the workload).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import type { LabInputs } from '../../src/model/lab.js';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { parseCtSyn } from '../../src/parsers/ct-syn.js';
import { parseCtLife } from '../../src/parsers/ct-life.js';
import { parseFunctionGraph } from '../../src/parsers/function-graph.js';
import { callbackHits, unconfirmedLife } from '../../src/analysis/ct-syn.js';
import { summariseDrops } from '../../src/analysis/drops.js';
import { cutAtRoots } from '../../src/analysis/graph.js';
import { buildReport } from '../../src/analysis/lifetimes.js';
import { buildVerdict } from '../../src/judges/trace-syn-verdict.js';
import { firewallPlan } from '../../src/tools/firewall.js';

const DIR = join(ROOT, 'test/fixtures/lab');
const kernels = (existsSync(DIR) ? readdirSync(DIR) : []).filter((k) => existsSync(join(DIR, k, 'inputs', 'ct_syn.stdout.jsonl')));

it('there are lab captures with their raw outputs', () => {
  expect(kernels.length).toBeGreaterThanOrEqual(2);
});

describe.each(kernels)('analysis of a real %s lab', (kernel) => {
  const dir = join(DIR, kernel, 'inputs');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  const inputs = JSON.parse(read('inputs.json')) as LabInputs;
  const plain = inputs.plain;

  it('ct_syn.bt records → the callbacks with their verdicts, and the unconfirmed entry', () => {
    const ct = parseCtSyn(printfLines(parseBpftraceJson(read('ct_syn.stdout.jsonl'))));
    expect(callbackHits(ct, plain.hooks, 'ipv4', plain.drop)).toEqual(plain.callbacks);
    expect(unconfirmedLife(ct)).toEqual(plain.unconfirmed);
    // And what they say: conntrack's PRE_ROUTING callback accepted, the filter dropped.
    expect(plain.callbacks.find((c) => c.hook === 'PRE_ROUTING' && c.conntrack)?.verdict).toBe('ACCEPT');
    expect(plain.callbacks.filter((c) => c.dropped).map((c) => c.hook)).toEqual(['LOCAL_IN']);
    expect(plain.unconfirmed).toMatchObject({ allocated: 1, confirmed: 0, freedUnconfirmed: 1 });
  });

  it('the drop → hook, callback and priority from the stack, the listing and the rule counter', () => {
    const ct = parseCtSyn(printfLines(parseBpftraceJson(read('ct_syn.stdout.jsonl'))));
    const reasons = new Map([[plain.drop!.reasonCode, plain.drop!.reason]]);
    const dropAt = firewallPlan('iptables', 'ipv4', inputs.port, false, '0a1b2c').dropAt;
    const drop = summariseDrops(ct.drops, reasons, plain.hooks, 'ipv4', plain.drop!.ruleCounter, dropAt);
    expect(drop).toEqual({ ...plain.drop!, count: ct.drops.length });
    // Where the skb was freed: the filter's own function, or nf_hook_slow on its verdict (5.10).
    expect(drop!.location).toMatch(/^(nft_do_chain|ipt_do_table|nf_hook_slow)$/);
    // skb:kfree_skb has a reason field from 5.17 on: before it, the drop has none.
    const [maj, min] = kernel.split('.').map(Number);
    expect(drop).toMatchObject({ hook: 'LOCAL_IN', priority: 0, reason: maj! > 5 || (maj === 5 && min! >= 17) ? 'NETFILTER_DROP' : null });
    expect(buildVerdict(plain)).toBe(plain.verdict);
  });

  it('function_graph → the trees cut at their roots, with the allocation path', () => {
    const cg = plain.callGraph!;
    const trees = cutAtRoots(parseFunctionGraph(read('function_graph.trace.txt')).roots, cg.roots);
    expect(trees).toEqual(cg.callTrees);
    expect(cg.allocPath?.map((f) => f.replace(/\.(constprop|isra)\.\d+$/g, ''))).toEqual(['nf_conntrack_in', 'init_conntrack', '__nf_conntrack_alloc']);
  });

  it('ct_life.bt maps → every entry of the burst accounted for', () => {
    const raw = read('ct_life.stdout.jsonl');
    const life = inputs.life!;
    const reasons = new Map(life.deaths.byReason.filter((r) => r.code !== null).map((r) => [r.code!, r.reason]));
    const rep = buildReport(life.kernel, life.target, { port: life.filter.port, netns: life.filter.netns === null ? undefined : { label: life.filter.netns } },
      life.durationS, parseCtLife(parseBpftraceJson(raw), raw), reasons, life.lost.events);
    expect(rep).toEqual(life);
    expect(life.counts).toMatchObject({ confirmed: 0, freedConfirmed: 0 });
    expect(life.counts.freedUnconfirmed).toBe(life.counts.allocated);
  });
});
