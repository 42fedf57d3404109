/**
 * The scenarios' judges (judges/scenarios/, pure) on what real runs observed:
 * test/fixtures/scenario/<kernel>/<scenario>/inputs.json, captured with
 * NFSCOPE_CAPTURE_DIR=test/fixtures nfscope lab --scenario NAME (meta.json beside each).
 * Every claim is confirmed on each captured kernel; then each claim is shown to refute, or to be
 * not observable, when the one observation it rests on is changed. The expected numbers come
 * from the workload (the SYNs each round sent), not from an earlier run of the judge.
 * Also: the nft counter parser on a real `nft -j` capture, and the reports' schema and renderers.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { schemaErrors } from '../helpers/schema.js';
import { judgeEarlyChain } from '../../src/judges/scenarios/early-chain.js';
import { judgeEqualPriority } from '../../src/judges/scenarios/equal-priority.js';
import { judgeNotrack } from '../../src/judges/scenarios/notrack.js';
import { judgeMixedBackends } from '../../src/judges/scenarios/mixed-backends.js';
import { judgeStaleUdp } from '../../src/judges/scenarios/stale-udp.js';
import { judgeInvalidRst } from '../../src/judges/scenarios/invalid-rst.js';
import { judgeTableFull } from '../../src/judges/scenarios/table-full.js';
import { judgeUdpRace } from '../../src/judges/scenarios/udp-race.js';
import { UDP_RACE_FLOWS } from '../../src/model/scenarios/udp-race.js';
import { TABLE_FULL_HELD } from '../../src/model/scenarios/table-full.js';
import { PITFALL_IDS, SCENARIO_SCHEMA_VERSION, SCENARIOS, scenarioVmGroups, type EarlyChainInputs, type EqualPriorityInputs, type MixedBackendsInputs, type NotrackInputs, type InvalidRstInputs, type ScenarioClaim, type StaleUdpInputs, type ScenarioReport, type TableFullInputs, type UdpRaceInputs } from '../../src/model/scenario.js';
import { parseNftRuleCounters } from '../../src/parsers/nft-rule-counters.js';
import { renderScenarioHtml, renderScenarioList, renderScenarioMarkdown, renderScenarioSetText, renderScenarioText } from '../../src/render/scenario.js';
import { ParseError } from '../../src/lib/errors.js';

const DIR = join(ROOT, 'test/fixtures/scenario');
const kernels = existsSync(DIR) ? readdirSync(DIR) : [];
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const statuses = (cs: ScenarioClaim[]) => cs.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`);
const of = (cs: ScenarioClaim[], id: string) => cs.find((c) => c.id === id)!;
const load = <T>(kernel: string, s: string) => ({
  inputs: JSON.parse(readFileSync(join(DIR, kernel, s, 'inputs.json'), 'utf8')) as T,
  meta: JSON.parse(readFileSync(join(DIR, kernel, s, 'meta.json'), 'utf8')) as { argv: string; kernel: string },
});

it('there are real captures of each scenario to judge', () => {
  for (const s of ['early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race']) expect(kernels.filter((k) => existsSync(join(DIR, k, s))).length, s).toBeGreaterThan(0);
});

describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'early-chain'))))('early-chain judged on a real %s run', (kernel) => {
  const { inputs, meta } = load<EarlyChainInputs>(kernel, 'early-chain');

  it('every claim confirmed, each from counters, conntrack and the listing', () => {
    expect(meta.argv).toMatch(/--scenario early-chain/);
    const claims = judgeEarlyChain(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect(claims.map((c) => c.phase)).toEqual(['problem', 'problem', 'fix']);
    expect(of(claims, 'early-chain/no-state-before-conntrack').evidence.map((e) => e.kind)).toEqual(['counter', 'conntrack']);
    // The workload's packets reached the chain in both phases, and conntrack held the connection.
    expect(inputs.early.counts.seen).toBeGreaterThan(0);
    expect(inputs.fixed.counts.seen).toBeGreaterThan(0);
  });

  it('one packet matching established at -300 refutes; an invalid one at -190 refutes the fix', () => {
    const a = clone(inputs);
    a.early.counts.established = 1;
    expect(of(judgeEarlyChain(a), 'early-chain/no-state-before-conntrack').status).toBe('refuted');
    const b = clone(inputs);
    b.fixed.counts.invalid = 1;
    expect(of(judgeEarlyChain(b), 'early-chain/state-after-conntrack').status).toBe('refuted');
  });

  it('a chain listed after conntrack refutes "runs before"; a failed listing is not observable, with its reason', () => {
    const a = clone(inputs);
    if (!('hooks' in a.early.listing)) throw new Error('the capture has no listing');
    const pre = a.early.listing.hooks.find((h) => h.hook === 'PRE_ROUTING')!;
    const chain = pre.entries.findIndex((e) => e.owner === 'nftables');
    const [entry] = pre.entries.splice(chain, 1);
    pre.entries.push(entry!);
    expect(of(judgeEarlyChain(a), 'early-chain/runs-before-conntrack').status).toBe('refuted');
    // The fix's chain listed before conntrack refutes "after conntrack", whatever the counters say.
    const f = clone(inputs);
    if (!('hooks' in f.fixed.listing)) throw new Error('the capture has no listing');
    const fpre = f.fixed.listing.hooks.find((h) => h.hook === 'PRE_ROUTING')!;
    const fi = fpre.entries.findIndex((e) => e.owner === 'nftables');
    const [fe] = fpre.entries.splice(fi, 1);
    fpre.entries.unshift(fe!);
    expect(of(judgeEarlyChain(f), 'early-chain/state-after-conntrack').status).toBe('refuted');
    const b = clone(inputs);
    b.early.listing = { failure: 'bpftrace exited 1: no BTF' };
    const c = of(judgeEarlyChain(b), 'early-chain/runs-before-conntrack');
    expect([c.status, c.reason]).toEqual(['not-observable', 'the hook listing failed: bpftrace exited 1: no BTF']);
  });

  it('no ESTABLISHED entry, or no packet seen, is not observable; a counter not read is an error, not a zero', () => {
    const a = clone(inputs);
    a.early.conntrack = [];
    expect(of(judgeEarlyChain(a), 'early-chain/no-state-before-conntrack').status).toBe('not-observable');
    const b = clone(inputs);
    b.fixed.counts = { ...b.fixed.counts, seen: 0 };
    expect(of(judgeEarlyChain(b), 'early-chain/state-after-conntrack').status).toBe('not-observable');
    const c = clone(inputs);
    delete (c.early.counts as Record<string, number>).invalid;
    expect(() => judgeEarlyChain(c)).toThrow(/no counter "invalid" was read/);
  });
});

describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'equal-priority'))))('equal-priority judged on a real %s run', (kernel) => {
  const { inputs, meta } = load<EqualPriorityInputs>(kernel, 'equal-priority');

  it('every claim confirmed; every SYN sent was seen first by exactly one chain', () => {
    expect(meta.argv).toMatch(/--scenario equal-priority/);
    const claims = judgeEqualPriority(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    for (const r of [inputs.registered, inputs.reloaded, inputs.fixed, inputs.fixedReloaded]) {
      expect(r.first.a + r.first.b, r.change).toBe(r.sent);
      expect(r.sent).toBe(5);
    }
    // The workload's order: b added last runs first; a reloaded runs first; a at -10 runs first.
    expect([inputs.registered.first.b, inputs.reloaded.first.a, inputs.fixed.first.a, inputs.fixedReloaded.first.a]).toEqual([5, 5, 5, 5]);
  });

  it('the registration order reversed in the counters refutes; a split order refutes; lost SYNs are not observable', () => {
    const a = clone(inputs);
    a.registered.first = { a: 5, b: 0 };
    expect(of(judgeEqualPriority(a), 'equal-priority/reverse-registration').status).toBe('refuted');
    const b = clone(inputs);
    b.fixedReloaded.first = { a: 2, b: 3 };
    expect(of(judgeEqualPriority(b), 'equal-priority/distinct-priorities').status).toBe('refuted');
    const c = clone(inputs);
    c.reloaded.first = { a: 4, b: 0 };
    const r = of(judgeEqualPriority(c), 'equal-priority/reload-reverses');
    expect(r.status).toBe('not-observable');
    expect(r.reason).toMatch(/saw 4 SYN\(s\) first between them, of 5 sent/);
  });

  it('a reload that leaves the order as it was refutes "reverses", even with a (the reloaded) first', () => {
    const a = clone(inputs);
    a.registered.first = { a: 5, b: 0 };
    const r = of(judgeEqualPriority(a), 'equal-priority/reload-reverses');
    expect([r.status, r.reason]).toEqual(['refuted', 'a ran first before the reload of a, a after it']);
  });
});

describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'notrack'))))('notrack judged on a real %s run', (kernel) => {
  const { inputs, meta } = load<NotrackInputs>(kernel, 'notrack');

  it('every claim confirmed; the workload\'s 5 SYNs refused untranslated, then 5 connected through DNAT', () => {
    expect(meta.argv).toMatch(/--scenario notrack/);
    const claims = judgeNotrack(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect([inputs.problem.syns, inputs.late.syns, inputs.fixed.syns]).toEqual([{ sent: 5, connected: 0, refused: 5 }, { sent: 5, connected: 5, refused: 0 }, { sent: 5, connected: 5, refused: 0 }]);
    expect([inputs.problem.notrackPriority, inputs.late.notrackPriority, inputs.fixed.notrackPriority]).toEqual([-300, -150, null]);
    expect(claims.map((c) => c.phase)).toEqual(['problem', 'problem', 'problem', 'fix']);
  });

  it('NFS004: a SYN untracked by the late rule, or one not translated, refutes "notrack after conntrack does nothing"; the rule not matching is not observable', () => {
    const a = clone(inputs);
    a.late.counts.untracked = 1;
    expect(of(judgeNotrack(a), 'notrack/notrack-after-conntrack').status).toBe('refuted');
    const b = clone(inputs);
    b.late.counts['to-new-port'] = 4;
    expect(of(judgeNotrack(b), 'notrack/notrack-after-conntrack').status).toBe('refuted');
    const c = clone(inputs);
    c.late.conntrack = [];
    expect(of(judgeNotrack(c), 'notrack/notrack-after-conntrack').status).toBe('refuted');
    const d = clone(inputs);
    d.late.counts.notrack = 0;
    expect(of(judgeNotrack(d), 'notrack/notrack-after-conntrack').status).toBe('not-observable');
  });

  it('one SYN translated under notrack refutes "no NAT"; a tracked one refutes "untracked"; a SYN left untracked refutes the fix', () => {
    const a = clone(inputs);
    a.problem.counts.dnat = 1;
    expect(of(judgeNotrack(a), 'notrack/no-nat').status).toBe('refuted');
    const b = clone(inputs);
    b.problem.counts.untracked = 4;
    expect(of(judgeNotrack(b), 'notrack/untracked').status).toBe('refuted');
    const c = clone(inputs);
    c.fixed.counts.untracked = 1;
    expect(of(judgeNotrack(c), 'notrack/tracked-again').status).toBe('refuted');
    const d = clone(inputs);
    d.problem.counts.notrack = 0;
    expect(of(judgeNotrack(d), 'notrack/untracked').status).toBe('not-observable');
    // "untracked SYNs skip NAT" rests on untracked SYNs: with none, it is not observable, never refuted.
    const e = clone(inputs);
    e.problem.counts.untracked = 0;
    e.problem.counts.dnat = 5;
    expect(of(judgeNotrack(e), 'notrack/no-nat').status).toBe('not-observable');
  });
});

describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'mixed-backends'))))('mixed-backends judged on a real %s run', (kernel) => {
  const { inputs, meta } = load<MixedBackendsInputs>(kernel, 'mixed-backends');

  it('every claim confirmed; the 5 SYNs dropped by the legacy rule unanswered, then 5 refused once it is flushed', () => {
    expect(meta.argv).toMatch(/--scenario mixed-backends/);
    const claims = judgeMixedBackends(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect([inputs.mixed.legacyDrop, inputs.mixed.syns.refused, inputs.flushed.legacyDrop, inputs.flushed.syns.refused]).toEqual([5, 0, null, 5]);
  });

  it('a DROP listed by iptables-nft-save refutes "hidden"; an answered SYN refutes it too; no legacy entry refutes "both on the hook"', () => {
    const a = clone(inputs);
    a.mixed.nftSave.push('[5:300] -A INPUT -p tcp -j DROP');
    expect(of(judgeMixedBackends(a), 'mixed-backends/hidden-drop').status).toBe('refuted');
    const b = clone(inputs);
    b.mixed.syns = { ...b.mixed.syns, refused: 1 };
    expect(of(judgeMixedBackends(b), 'mixed-backends/hidden-drop').status).toBe('refuted');
    const c = clone(inputs);
    if (!('hooks' in c.mixed.listing)) throw new Error('the capture has no listing');
    for (const h of c.mixed.listing.hooks) h.entries = h.entries.filter((e) => e.owner !== 'iptables');
    expect(of(judgeMixedBackends(c), 'mixed-backends/both-on-the-hook').status).toBe('refuted');
  });
});

describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'stale-udp'))))('stale-udp judged on a real %s run', (kernel) => {
  const { inputs, meta } = load<StaleUdpInputs>(kernel, 'stale-udp');

  it('every claim confirmed; the new flow\'s 5 datagrams all at the new backend', () => {
    expect(meta.argv).toMatch(/--scenario stale-udp/);
    const claims = judgeStaleUdp(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect([inputs.newFlow.sent, inputs.newFlow.new]).toEqual([5, 5]);
    expect(inputs.stale.old).toBeGreaterThan(0);
  });

  it('one datagram at the new backend after the change refutes; one at the old after the delete refutes the fix; no flow before is not observable', () => {
    const a = clone(inputs);
    a.stale.new = 1;
    expect(of(judgeStaleUdp(a), 'stale-udp/sticks-to-old-backend').status).toBe('refuted');
    const b = clone(inputs);
    b.deleted.old = 1;
    expect(of(judgeStaleUdp(b), 'stale-udp/delete-entry').status).toBe('refuted');
    const c = clone(inputs);
    c.newFlow.new = 4;
    expect(of(judgeStaleUdp(c), 'stale-udp/new-flows-use-new-rule').status).toBe('refuted');
    const e = clone(inputs);
    e.deleted.old = 0;
    e.deleted.new = 0;
    expect(of(judgeStaleUdp(e), 'stale-udp/delete-entry').status).toBe('not-observable');
    const d = clone(inputs);
    d.before.old = 0;
    expect(judgeStaleUdp(d).filter((x) => x.status === 'not-observable').map((x) => x.id)).toEqual(['stale-udp/sticks-to-old-backend', 'stale-udp/delete-entry']);
  });
});

type Raced = Exclude<UdpRaceInputs, { notRun: string }>;
describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'udp-race'))))('udp-race judged on a real %s run', (kernel) => {
  const { inputs: loaded, meta } = load<UdpRaceInputs>(kernel, 'udp-race');
  const inputs = loaded as Raced;

  it('every claim confirmed: the flows\' datagrams clashed, each delivered, a socket per query none clashed', () => {
    expect(meta.argv).toMatch(/--scenario udp-race/);
    const claims = judgeUdpRace(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect(claims.map((c) => c.phase)).toEqual(['problem', 'problem', 'problem', 'fix']);
    // The workload: FLOWS flows of two datagrams a phase; a socket per datagram in the fix.
    for (const p of [inputs.oneBackend, inputs.twoBackends, inputs.socketPerQuery]) expect(p.sent).toBe(2 * UDP_RACE_FLOWS);
    expect([inputs.oneBackend.flows, inputs.socketPerQuery.flows]).toEqual([UDP_RACE_FLOWS, 2 * UDP_RACE_FLOWS]);
    expect(inputs.cpus).toHaveLength(2);
  });

  it('one observation changed: a datagram lost, an insert_failed, a clash with a socket per query refute; no clash at all is not observable', () => {
    const port = (p: { received: Record<string, number> }) => Object.keys(p.received).find((k) => p.received[k]! > 0)!;
    const a = clone(inputs);
    a.oneBackend.received[port(a.oneBackend)]! -= 1;
    expect(of(judgeUdpRace(a), 'udp-race/clash-resolved').status).toBe('refuted');
    const b = clone(inputs);
    b.twoBackends.after.stats.insert_failed = b.twoBackends.before.stats.insert_failed! + 1;
    expect(of(judgeUdpRace(b), 'udp-race/different-translations').status).toBe('refuted');
    const c = clone(inputs);
    c.socketPerQuery.after.stats.clash_resolve = c.socketPerQuery.before.stats.clash_resolve! + 1;
    expect(of(judgeUdpRace(c), 'udp-race/fix-socket-per-query').status).toBe('refuted');
    const d = clone(inputs);
    d.oneBackend.after.stats.clash_resolve = d.oneBackend.before.stats.clash_resolve!;
    d.oneBackend.after.stats.insert_failed = d.oneBackend.before.stats.insert_failed!;
    expect(judgeUdpRace(d).filter((x) => x.status === 'not-observable').map((x) => x.id)).toEqual(['udp-race/insert-race', 'udp-race/clash-resolved']);
    // Clashes counted, but NAT looked up once a flow: no flow had two entries.
    const e = clone(inputs);
    e.oneBackend.counts.dnat = e.oneBackend.flows;
    expect(of(judgeUdpRace(e), 'udp-race/insert-race').status).toBe('refuted');
    // No clash with one socket a flow: no clash with a socket per query shows nothing.
    const g = clone(inputs);
    for (const p of [g.oneBackend, g.twoBackends]) {
      p.after.stats.clash_resolve = p.before.stats.clash_resolve!;
      p.after.stats.insert_failed = p.before.stats.insert_failed!;
    }
    expect(of(judgeUdpRace(g), 'udp-race/fix-socket-per-query').status).toBe('not-observable');
    // Two backends and few clashes: whether any two translated differently is not shown.
    const f = clone(inputs);
    f.twoBackends.after.stats.clash_resolve = f.twoBackends.before.stats.clash_resolve! + 3;
    f.twoBackends.after.stats.insert_failed = f.twoBackends.before.stats.insert_failed!;
    expect(of(judgeUdpRace(f), 'udp-race/different-translations').status).toBe('not-observable');
  });
});

type Ran = Exclude<TableFullInputs, { notRun: string }>;
const tableFullKernels = kernels.filter((k) => existsSync(join(DIR, k, 'table-full')));
const tableFullRan = (k: string) => !('notRun' in load<TableFullInputs>(k, 'table-full').inputs);

describe.each(tableFullKernels.filter((k) => !tableFullRan(k)))('table-full captured on %s, a machine nfscope did not boot', (kernel) => {
  it('changed nothing: every claim not observable, with the max it read', () => {
    const { inputs } = load<TableFullInputs>(kernel, 'table-full');
    const claims = judgeTableFull(inputs);
    expect(claims.map((c) => c.status)).toEqual(['not-observable', 'not-observable', 'not-observable', 'not-observable']);
    expect(claims[0]!.reason).toMatch(/^nf_conntrack_max \(here \d+\) is one value for the whole machine/);
  });
});

describe.each(tableFullKernels.filter(tableFullRan))('table-full judged on a real %s run', (kernel) => {
  const { inputs: loaded, meta } = load<TableFullInputs>(kernel, 'table-full');
  const inputs = loaded as Ran;

  it('every claim confirmed: the SYNs dropped by conntrack at the max, the held entries kept, the unreplied ones evicted, the raised max lets them through', () => {
    expect(meta.argv).toMatch(/--scenario table-full/);
    expect('notRun' in loaded).toBe(false);
    const claims = judgeTableFull(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect(claims.map((c) => c.phase)).toEqual(['problem', 'problem', 'problem', 'fix']);
    // The workload: the held connections made the table full, 5 SYNs a phase reached the hook.
    expect(inputs.held).toBe(TABLE_FULL_HELD);
    expect(inputs.assured.before.count).toBe(inputs.assured.max);
    for (const p of [inputs.assured, inputs.raised, inputs.unassured]) expect([p.syns.sent, p.counts['syn-seen']]).toEqual([5, 5]);
  });

  it('one observation changed: a SYN through, no drop counted, an evicted held entry, a dropped SYN after the fix; a table not full is not observable', () => {
    const a = clone(inputs);
    a.assured.syns.connected = 1;
    expect(of(judgeTableFull(a), 'table-full/full-drops-new').status).toBe('refuted');
    const b = clone(inputs);
    b.assured.after.stats.drop = b.assured.before.stats.drop!;
    expect(of(judgeTableFull(b), 'table-full/full-drops-new').status).toBe('refuted');
    const c = clone(inputs);
    c.assured.after.stats.early_drop = c.assured.before.stats.early_drop! + 1;
    expect(of(judgeTableFull(c), 'table-full/assured-kept').status).toBe('refuted');
    const d = clone(inputs);
    d.assured.conntrack = d.assured.conntrack.slice(1);
    expect(of(judgeTableFull(d), 'table-full/assured-kept').status).toBe('refuted');
    const e = clone(inputs);
    e.unassured.syns.connected = 4;
    expect(of(judgeTableFull(e), 'table-full/unassured-evicted').status).toBe('refuted');
    // Through, but no early_drop counted: room was made some other way, which the run does not tell.
    const e2 = clone(inputs);
    e2.unassured.after.stats.early_drop = e2.unassured.before.stats.early_drop!;
    expect(of(judgeTableFull(e2), 'table-full/unassured-evicted').status).toBe('not-observable');
    const f = clone(inputs);
    f.raised.after.stats.drop = f.raised.before.stats.drop! + 1;
    expect(of(judgeTableFull(f), 'table-full/fix-raise-max').status).toBe('refuted');
    const g = clone(inputs);
    g.assured.before.count = g.assured.max - 1;
    expect(judgeTableFull(g).filter((x) => x.status === 'not-observable').map((x) => x.id)).toEqual(['table-full/full-drops-new', 'table-full/assured-kept']);
    const h = clone(inputs);
    h.unassured.counts['syn-seen'] = 4;
    expect(of(judgeTableFull(h), 'table-full/unassured-evicted').status).toBe('not-observable');
    // A counter this kernel did not report is the run's error, never a zero.
    const k = clone(inputs);
    delete k.assured.after.stats.drop;
    expect(() => judgeTableFull(k)).toThrow(/no "drop" counter/);
  });
});

it('udp-race on one CPU: every claim not observable, with the reason the run gave', () => {
  const claims = judgeUdpRace({ port: 2570, notRun: 'the race needs two CPUs' });
  expect(statuses(claims)).toEqual(['insert-race', 'clash-resolved', 'different-translations', 'fix-socket-per-query'].map((id) => `udp-race/${id}: not-observable (the race needs two CPUs)`));
});

it('table-full on a machine nfscope did not boot: every claim not observable, with the reason the run gave', () => {
  const claims = judgeTableFull({ port: 2570, notRun: 'nf_conntrack_max (here 262144) is one value for the whole machine' });
  expect(statuses(claims)).toEqual(['full-drops-new', 'assured-kept', 'unassured-evicted', 'fix-raise-max'].map((id) => `table-full/${id}: not-observable (nf_conntrack_max (here 262144) is one value for the whole machine)`));
});

describe.each(kernels.filter((k) => existsSync(join(DIR, k, 'invalid-rst'))))('invalid-rst judged on a real %s run', (kernel) => {
  const { inputs, meta } = load<InvalidRstInputs>(kernel, 'invalid-rst');

  it('every claim confirmed: one INVALID segment, untranslated, the connection reset; with either fix it lives on', () => {
    expect(meta.argv).toMatch(/--scenario invalid-rst/);
    const claims = judgeInvalidRst(inputs);
    expect(statuses(claims)).toEqual(claims.map((c) => `${c.id}: confirmed`));
    expect([inputs.problem.inject.reset, inputs.dropInvalid.inject.reset, inputs.beLiberal.inject.reset]).toEqual([true, false, false]);
    // The segment the workload sent: 2^30 past the next sequence number, modulo 2^32.
    for (const p of [inputs.problem, inputs.dropInvalid, inputs.beLiberal]) expect(p.inject.injected_seq).toBe((p.inject.snd_nxt + 2 ** 30) % 2 ** 32);
  });

  it('no reset refutes "untranslated-reset"; a translated segment refutes it too; a reset with a fix refutes the fix; no DNAT is not observable', () => {
    const a = clone(inputs);
    a.problem.inject.reset = false;
    expect(of(judgeInvalidRst(a), 'invalid-rst/untranslated-reset').status).toBe('refuted');
    const b = clone(inputs);
    b.problem.counts['to-port'] = 0;
    expect(of(judgeInvalidRst(b), 'invalid-rst/untranslated-reset').status).toBe('refuted');
    const c = clone(inputs);
    c.beLiberal.inject.reset = true;
    expect(of(judgeInvalidRst(c), 'invalid-rst/fix-be-liberal').status).toBe('refuted');
    const d = clone(inputs);
    d.dropInvalid.counts.invalid = 0;
    expect(of(judgeInvalidRst(d), 'invalid-rst/fix-drop-invalid').status).toBe('refuted');
    const e = clone(inputs);
    e.problem.counts.dnat = 0;
    expect(judgeInvalidRst(e).filter((x) => x.status === 'not-observable').map((x) => x.id)).toEqual(['invalid-rst/marked-invalid', 'invalid-rst/why-invalid', 'invalid-rst/untranslated-reset']);
    // No RST counted leaving the old port refutes the reset; the segment missing at the backend refutes be_liberal's fix.
    const g = clone(inputs);
    g.problem.counts.rst = 0;
    expect(of(judgeInvalidRst(g), 'invalid-rst/untranslated-reset').status).toBe('refuted');
    const h = clone(inputs);
    h.beLiberal.counts['segment-translated'] = 0;
    expect(of(judgeInvalidRst(h), 'invalid-rst/fix-be-liberal').status).toBe('refuted');
    const k = clone(inputs);
    k.problem.counts.invalid = 2;
    expect(of(judgeInvalidRst(k), 'invalid-rst/marked-invalid').status).toBe('not-observable');
    const f = clone(inputs);
    f.problem.counts.invalid = 0;
    expect(of(judgeInvalidRst(f), 'invalid-rst/marked-invalid').status).toBe('refuted');
    expect(of(judgeInvalidRst(f), 'invalid-rst/untranslated-reset').status).toBe('not-observable');
    expect(of(judgeInvalidRst(f), 'invalid-rst/why-invalid').status).toBe('not-observable');
  });

  it('why-invalid: the kernel\'s words for the segment, over the window; another reason refutes; no line for it, or no log, is not observable', () => {
    const seg = (x: InvalidRstInputs) => (x.problem.invalidLog as { lines: { prefix: string | null; ip_len: number | null }[] }).lines.filter((l) => l.ip_len === 77);
    // The kernel's own words, as this kernel's tcp_in_window words them.
    expect(seg(inputs).map((l) => l.prefix)).toEqual([expect.stringMatching(/^nf_ct_proto_6: SEQ is over (the )?upper bound/)]);
    const a = clone(inputs);
    seg(a)[0]!.prefix = 'nf_ct_proto_6: SEQ is under the lower bound (already ACKed data retransmitted) ';
    expect(of(judgeInvalidRst(a), 'invalid-rst/why-invalid').status).toBe('refuted');
    const b = clone(inputs);
    (b.problem.invalidLog as { lines: unknown[] }).lines = [];
    expect(of(judgeInvalidRst(b), 'invalid-rst/why-invalid').status).toBe('not-observable');
    const c = clone(inputs);
    c.problem.invalidLog = { failure: 'nflog.py: Protocol not supported' };
    expect(of(judgeInvalidRst(c), 'invalid-rst/why-invalid')).toMatchObject({ status: 'not-observable', reason: 'nflog.py: Protocol not supported' });
    // The other claims do not rest on the log.
    expect(statuses(judgeInvalidRst(c)).filter((x) => !x.includes('why-invalid'))).toEqual(statuses(judgeInvalidRst(inputs)).filter((x) => !x.includes('why-invalid')));
  });
});

describe('the scenario report', () => {
  const kernel = kernels.find((k) => existsSync(join(DIR, k, 'early-chain')))!;
  const { inputs } = load<EarlyChainInputs>(kernel, 'early-chain');
  const report: ScenarioReport = {
    schemaVersion: SCENARIO_SCHEMA_VERSION, scenario: 'early-chain', title: SCENARIOS[1]!.title, kernel, target: 'local',
    port: inputs.port, durationS: 3.2, claims: judgeEarlyChain(inputs), fix: 'a fix', grounding: SCENARIOS[1]!.grounding,
  };
  it('matches its schema, and each renderer shows every claim with its status', () => {
    expect(schemaErrors('lab-scenario', report)).toEqual([]);
    const text = renderScenarioText(report, { explain: true });
    expect(text).toMatch(/3 confirmed, 0 refuted, 0 not observable/);
    expect(text.split('\n')[1]).toBe(`kernel ${kernel}, target local, port ${inputs.port}, 3.2 s`);
    expect(text).toMatch(/\$ ip netns exec lab-s nft/);
    expect(renderScenarioMarkdown(report)).toMatch(/\| 3 \| the fix \|/);
    const html = renderScenarioHtml(report);
    expect(html).not.toMatch(/<script|https?:\/\/(?!blog)/);
    // Each claim twice: its row of the summary table and its section heading.
    expect((html.match(/class="badge confirmed"/g) ?? []).length).toBe(6);
  });
  it('lab --list names every scenario, the default first', () => {
    expect(renderScenarioList(SCENARIOS).split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['syn-drop', 'early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race']);
  });
});

describe('parseNftRuleCounters on a real nft -j capture', () => {
  const dir = join(ROOT, 'test/fixtures/nft-counters');
  const caps = existsSync(dir) ? readdirSync(dir).filter((k) => existsSync(join(dir, k, 'rule-counters'))) : [];
  it.each(caps)('%s: the counters by comment are what the workload sent', (kernel) => {
    const meta = JSON.parse(readFileSync(join(dir, kernel, 'rule-counters/meta.json'), 'utf8')) as { expect: Record<string, number> };
    const rules = parseNftRuleCounters(readFileSync(join(dir, kernel, 'rule-counters/stdout.json'), 'utf8'));
    expect(Object.fromEntries(rules.map((r) => [r.comment, r.packets]))).toEqual(meta.expect);
    expect(rules.every((r) => r.table === 'nfscope_early_fixture' && r.chain === 'pre' && r.family === 'ip')).toBe(true);
  });
  it('a rule without the fields nft writes is an error; a text that is not nft JSON too', () => {
    expect(() => parseNftRuleCounters('{"nftables": [{"rule": {"chain": "pre", "expr": []}}]}')).toThrow(ParseError);
    expect(() => parseNftRuleCounters('[]')).toThrow(ParseError);
  });
});

describe('lab --scenario all when one scenario fails', () => {
  const report = (id: string): ScenarioReport => ({
    schemaVersion: SCENARIO_SCHEMA_VERSION, scenario: id as ScenarioReport['scenario'], title: id, kernel: 'k', target: 'local', port: 2570, durationS: 1, claims: [], fix: '', grounding: [],
  });

  it('the others run and keep their reports; the failure is kept with its error and exit code, said, and in the text', async () => {
    const { eachScenario } = await import('../../src/experiments/scenarios/index.js');
    const { CommandFailedError } = await import('../../src/lib/errors.js');
    const said: string[] = [];
    const set = await eachScenario(['early-chain', 'notrack', 'stale-udp'], async (id) => {
      if (id === 'notrack') throw new CommandFailedError(['nft', '-f', '-'], 1, 'Error: Could not process rule: No such file or directory');
      return report(id);
    }, (m) => said.push(m));
    expect(set.reports.map((r) => r.scenario)).toEqual(['early-chain', 'stale-udp']);
    expect(set.failed).toEqual([{ scenario: 'notrack', exitCode: 5, error: expect.stringContaining('command failed (exit 1): nft -f -') }]);
    expect(said).toContain('  notrack failed: command failed (exit 1): nft -f -');
    const full = { schemaVersion: SCENARIO_SCHEMA_VERSION, ...set };
    expect(schemaErrors('lab-scenarios', full)).toEqual([]);
    const text = renderScenarioSetText(full);
    expect(text).toMatch(/^notrack FAILED \(exit 5\): command failed/m);
    expect(text.trim().split('\n').pop()).toBe('2 scenarios: 0 claims confirmed, 0 refuted, 0 not observable on this target. 1 failed: notrack.');
  });

  it('a run torn down by a signal ends them all: nothing after it runs', async () => {
    const { eachScenario } = await import('../../src/experiments/scenarios/index.js');
    const { RunEndedError } = await import('../../src/lib/cleanup.js');
    const ran: string[] = [];
    await expect(eachScenario(['early-chain', 'notrack', 'stale-udp'], async (id) => {
      ran.push(id);
      if (id === 'notrack') throw new RunEndedError('ip netns add');
      return report(id);
    }, () => {})).rejects.toThrow(RunEndedError);
    expect(ran).toEqual(['early-chain', 'notrack']);
  });
});

describe('lab --scenario all on a micro-VM: a VM per way its vCPUs run', () => {
  it('udp-race alone in a VM whose vCPUs run at once; the others, in order, in one whose vCPUs take turns', () => {
    expect(scenarioVmGroups(PITFALL_IDS)).toEqual([
      { ids: PITFALL_IDS.filter((id) => id !== 'udp-race'), concurrentCpus: false },
      { ids: ['udp-race'], concurrentCpus: true },
    ]);
    expect(scenarioVmGroups(['notrack', 'early-chain'])).toEqual([{ ids: ['notrack', 'early-chain'], concurrentCpus: false }]);
    expect(scenarioVmGroups(['udp-race'])).toEqual([{ ids: ['udp-race'], concurrentCpus: true }]);
  });
});
