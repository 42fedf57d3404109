/**
 * Every reason the trace-syn report, its verdict, its rendering and the lab's
 * judges give comes from the report itself: the probe that was not attached
 * (with the cause the run recorded), the listing that lacks what the run
 * registered, the command that failed. Never a constant guess ("no kprobes",
 * "a bpftrace that misreads its BTF"), and "no drop seen" only from a probe
 * that was attached. The reports are the real 6.1 lab capture's, with the one
 * state under test changed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { conntrackSawTheSyn, entryCreatedAndDiscarded, whereConntrackSits } from '../../src/judges/lab.js';
import { graphOfTraceSyn } from '../../src/model/trace-syn.js';
import type { LabInputs } from '../../src/model/lab.js';
import { missingReason, notTracedReason, probeGaps, type TraceSynReport } from '../../src/model/trace-syn.js';
import { buildVerdict } from '../../src/judges/trace-syn-verdict.js';
import { renderTraceSyn } from '../../src/render/trace-syn.js';

const inputs = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/lab/6.1.0-57-amd64/inputs/inputs.json'), 'utf8')) as LabInputs;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const plain = () => clone(inputs.plain);
const trick = () => clone(inputs.trick);
/** The capability check's words on this host's kind of kernel (kernel/capabilities.ts). */
const NO_KPROBES = 'which netfilter callbacks saw the SYN, and what each returned, needs kprobes on them (/sys/kernel/tracing/kprobe_events absent; CONFIG_KPROBES=y: this kernel has no kprobes; use --target qemu)';
const ATTACH_FAILED = "the conntrack tracer did not attach: command failed (exit 255): bpftrace -f json -e | ERROR: Error attaching probe: 'kprobe:ipv4_conntrack_in'";

/** A report with no callbacks and no unconfirmed entry, its conntrack tracer not attached for `why`. */
function withoutConntrackTracer(why: string): TraceSynReport {
  const r = plain();
  r.callbacks = [];
  r.unconfirmed = null;
  r.probes.callbacks = { attached: false, reason: why };
  r.probes.unconfirmed = { attached: false, reason: why };
  // As the producer builds it: the probes' gaps first, then the rest (experiments/trace-syn.ts).
  r.unavailable = [...probeGaps(r.probes), ...r.unavailable.filter((u) => !['callbacks', 'unconfirmed', 'drop'].includes(u.observation))];
  return r;
}

describe('the model: a probe not attached carries its reason', () => {
  it('probeGaps lists the gaps in one order, notTracedReason gives the reason or null', () => {
    const r = trick();
    expect(probeGaps(r.probes).map((g) => g.observation)).toEqual(['callbacks', 'unconfirmed', 'drop']);
    expect(notTracedReason(r, 'drop')).toMatch(/^not traced in this run/);
    expect(notTracedReason(plain(), 'drop')).toBeNull();
  });
  it('missingReason refuses a report that lacks an observation its attached tracer always gives', () => {
    const r = plain();
    r.unconfirmed = null;
    expect(() => missingReason(r, 'unconfirmed')).toThrow(/no unconfirmed although its tracer was attached/);
    expect(() => buildVerdict(r)).toThrow(/no unconfirmed although its tracer was attached/);
  });
});

describe('the verdict cites the reason the report carries', () => {
  it('callbacks not traced: the recorded cause (kprobe_events absent), never "no kprobes" from a constant', () => {
    const v = buildVerdict(withoutConntrackTracer(NO_KPROBES));
    expect(v).toContain(`Whether conntrack's callbacks saw the 1 SYN was not observed (${NO_KPROBES}) [1]`);
    expect(v).toContain(`was not observed (${NO_KPROBES}) [4]`);
  });
  it('a tracer that failed to attach: its failure, and nothing about kprobes', () => {
    const v = buildVerdict(withoutConntrackTracer(ATTACH_FAILED));
    expect(v).toContain(ATTACH_FAILED);
    expect(v).not.toMatch(/no kprobes/);
  });
  it('callbacks traced, none ran: said as an observation', () => {
    const r = plain();
    r.callbacks = [];
    expect(buildVerdict(r)).toMatch(/^The kprobes on the netfilter callbacks were attached for the 1 SYN, and none of the callbacks ran for it \[1\]\./);
  });
  it('the untraced run (the priority trick): not "no drop seen", but not traced, beside the rule counter that counted it', () => {
    const r = trick();
    const v = buildVerdict(r);
    expect(v).not.toMatch(/No drop|no drop|no kprobes/);
    expect(v).toContain(`Where the SYN was dropped was not observed (${notTracedReason(r, 'drop')}); the drop rule counted 1 packet(s) [2].`);
  });
  it('skb:kfree_skb attached and no drop: "none seen" as an observation, the counter beside it', () => {
    const r = plain();
    r.drop = null;
    expect(buildVerdict(r)).toContain('skb:kfree_skb was traced for the whole run and saw no drop of the SYN; the drop rule counted 1 packet(s) [2].');
  });
  it('a drop tracer that exited during the run: its exit, not "no drop"', () => {
    const r = plain();
    r.drop = null;
    r.probes.drop = { attached: false, reason: 'the kfree_skb tracer exited during the run (exit 255: ERROR: …), before it was stopped: its probes did not see the whole run' };
    const v = buildVerdict(r);
    expect(v).toContain('Where the SYN was dropped was not observed (the kfree_skb tracer exited during the run (exit 255');
    expect(v).not.toMatch(/saw no drop/);
  });
});

describe('the text rendering says which: none seen, or not traced', () => {
  const section2 = (text: string) => text.split('[2] What dropped it\n')[1]!.split('\n\n')[0]!;
  it('not traced: "not observed", the rule counter, and the reason under "Not observable"', () => {
    const r = trick();
    const t = renderTraceSyn(r);
    expect(section2(t)).toBe('    not observed: skb:kfree_skb was not traced (see below)\n    rule counter: input: drop: 1 packet(s)');
    expect(t).toContain(`  - drop: ${notTracedReason(r, 'drop')}`);
  });
  it('attached, no drop: "no drop seen", with the probe attached', () => {
    const r = plain();
    r.drop = null;
    expect(section2(renderTraceSyn(r))).toBe(`    no drop of the SYN seen on skb:kfree_skb (attached for the whole run)\n    rule counter: ${r.ruleCounter!.rule}: 1 packet(s)`);
  });
  it('callbacks traced and none ran, versus not traced', () => {
    const r = plain();
    r.callbacks = [];
    expect(renderTraceSyn(r)).toContain('[1] Netfilter callbacks that saw the SYN, in the order it met them, and what each returned (* = conntrack)\n    none ran for the SYN (the kprobes on them were attached)');
    expect(renderTraceSyn(withoutConntrackTracer(NO_KPROBES))).toContain(`  - callbacks: ${NO_KPROBES}`);
  });
  it('the listing\'s own warnings are shown', () => {
    const r = plain();
    r.hookWarnings = ['no symbol in /proc/kallsyms starts at 0xffffffffc0a1b2c0: shown as addresses'];
    expect(renderTraceSyn(r)).toContain('warning (hook listing): no symbol in /proc/kallsyms starts at 0xffffffffc0a1b2c0: shown as addresses');
  });
});

describe('the lab\'s judges: what was observed, no guessed cause', () => {
  const noFilter = (r: TraceSynReport) => {
    for (const h of r.hooks) if (h.hook === 'LOCAL_IN') h.entries = h.entries.filter((e) => !['iptables', 'ip6tables', 'nftables'].includes(e.owner));
    return r;
  };
  it('a listing without the sandbox\'s filter hook: what it lacks, and its own warnings', () => {
    const r = noFilter(plain());
    r.hookWarnings = ['no symbol in /proc/kallsyms starts at 0xffffffffc0a1b2c0: shown as addresses'];
    const c = whereConntrackSits(r, inputs.port);
    expect(c.status).toBe('not-observable');
    expect(c.reason).toBe("the hook listing of the server netns lacks the filter hook at LOCAL_IN that the sandbox's own DROP rule registered, so it does not show where conntrack sits; the listing's warnings: no symbol in /proc/kallsyms starts at 0xffffffffc0a1b2c0: shown as addresses");
    expect(c.reason).not.toMatch(/BTF|bpftrace/);
    r.hookWarnings = [];
    expect(whereConntrackSits(r, inputs.port).reason).toMatch(/; the listing gave no warning$/);
  });
  it('an empty listing says so; a failed listing gives its failure', () => {
    const r = plain();
    r.hooks = [];
    r.hookWarnings = [];
    expect(whereConntrackSits(r, inputs.port).reason).toMatch(/^the hook listing of the server netns is empty: it lacks the filter hook at LOCAL_IN/);
    r.unavailable.push({ observation: 'hooks', reason: 'hook listing failed: command failed (exit 1): bpftrace -f json -e' });
    expect(whereConntrackSits(r, inputs.port).reason).toBe('hook listing failed: command failed (exit 1): bpftrace -f json -e');
  });
  it('claims 2 and 3 not observable with the tracer\'s recorded reason; the lifetimes\' own reason beside it', () => {
    const r = withoutConntrackTracer(ATTACH_FAILED);
    expect(conntrackSawTheSyn(r, inputs.port)).toMatchObject({ status: 'not-observable', reason: ATTACH_FAILED });
    const c = entryCreatedAndDiscarded(r, graphOfTraceSyn(r), null, 'lifetimes needs kprobes or fentry', inputs.port);
    expect(c).toMatchObject({ status: 'not-observable', reason: `${ATTACH_FAILED} (the lifetimes of a burst were not observed either: lifetimes needs kprobes or fentry)` });
  });
  it('a call tree missing with no reason recorded is an error, not "no function_graph"', () => {
    const r = plain();
    r.callGraph = null;
    expect(() => entryCreatedAndDiscarded(r, graphOfTraceSyn(r), inputs.life, null, inputs.port)).toThrow(/no call tree and no reason/);
    r.unavailable.push({ observation: 'call-graph', reason: 'the call tree needs the function_graph tracer (current_tracer lacks function_graph)' });
    expect(entryCreatedAndDiscarded(r, graphOfTraceSyn(r), inputs.life, null, inputs.port).reason).toBe('(the call tree was not observed: the call tree needs the function_graph tracer (current_tracer lacks function_graph))');
  });
});
