import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBpftraceJson } from '../../src/parsers/bpftrace-json.js';
import { parseCtLife } from '../../src/parsers/ct-life.js';
import { buildReport } from '../../src/analysis/lifetimes.js';
import { renderLifetimes } from '../../src/render/lifetimes.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/**
 * Real bpf/ct_life.bt output in the micro-VM (NFSCOPE_CAPTURE_DIR; meta.json
 * beside): 200 SYNs to a port dropped by iptables and 100 connections to an
 * open port, in a sandbox, traced together.
 */
const KERNELS = [
  { kernel: '6.1.0-56-amd64', netfilterDrop: 7 },
  { kernel: '6.12.117+deb12-amd64', netfilterDrop: 11 },
];

describe.each(KERNELS)('ct_life.bt on $kernel under load', (k) => {
  const text = readFileSync(join(ROOT, 'test/fixtures/ct_life', k.kernel, 'burst-200syn-100connect/stdout.jsonl'), 'utf8');
  const life = parseCtLife(parseBpftraceJson(text), text);
  const rep = buildReport(k.kernel, 'qemu', { port: null, durationS: 1 }, 1, life, new Map([[k.netfilterDrop, 'NETFILTER_DROP']]), 0);

  it('the counts add up to what was sent: 200 freed unconfirmed, 100 confirmed and alive', () => {
    expect(rep.counts).toEqual({ allocated: 300, confirmed: 100, freedUnconfirmed: 200, freedConfirmed: 0, aliveAtEnd: 100, aliveConfirmed: 100, aliveUnconfirmed: 0 });
    expect(rep.lost).toEqual({ events: 0, untracked: 0 });
    expect(rep.lifetimesUs.unconfirmed.reduce((s, b) => s + b.count, 0)).toBe(200);
    expect(rep.lifetimesUs.confirmed).toEqual([]);
    expect(rep.aliveAgeUs!.min).toBeGreaterThan(0);
  });
  it('why and where they died: NETFILTER_DROP at LOCAL_IN, freed through skb_release_head_state', () => {
    expect(rep.deaths.byReason).toEqual([{ reason: 'NETFILTER_DROP', code: k.netfilterDrop, count: 200 }]);
    // Stacks come from the first 128 deaths (ct_life.bt's cap); reasons cover all 200.
    expect(rep.deaths.stacksOfFirst).toBe(128);
    expect(rep.deaths.byHook).toEqual([{ hook: 'LOCAL_IN', callback: 'nft_do_chain_ipv4', count: 128 }]);
    const frames = rep.deaths.stacks[0]!.frames.map((f) => f.replace(/\+\d+$/, ''));
    expect(frames.slice(0, 3)).toEqual(['nf_conntrack_free', 'nf_conntrack_destroy', 'skb_release_head_state']);
    expect(rep.deaths.stacks.reduce((s, x) => s + x.count, 0)).toBe(128);
  });
  it('renders the histogram as bars and the accounting line', () => {
    const t = renderLifetimes(rep);
    expect(t).toMatch(/accounted +300 of 300/);
    expect(t).toMatch(/\[\d+us, \d+us\) +\d+ \|@+ *\|/);
  });
  it('a run that could not track everything says so (untracked), never hides it', () => {
    const l2 = { ...life, allocated: life.allocated + 7 };
    expect(buildReport(k.kernel, 'qemu', { port: null, durationS: 1 }, 1, l2, new Map(), 3).lost).toEqual({ events: 3, untracked: 7 });
  });
});

describe('ct_life.bt output: malformed input', () => {
  it('typed errors', () => {
    const bad = (s: string) => () => parseCtLife(parseBpftraceJson(s), s);
    expect(bad('{"type": "map", "data": {"@born": {"x": 1}}}')).toThrow(ParseError);
    expect(bad('{"type": "map", "data": {"@why": {"7": "many"}}}')).toThrow(ParseError);
    expect(bad('{"type": "hist", "data": {"@life_unconfirmed_us": {"min": 1}}}')).toThrow(ParseError);
    expect(bad('{"type": "map", "data": {"@allocated": {"1": 2}}}')).toThrow(ParseError);
  });
});
