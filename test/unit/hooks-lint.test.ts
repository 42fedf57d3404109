/**
 * The hook lint's parsers and analysis on captured inputs (scripts/capture/hooks-lint.sh: the
 * namespaces test/e2e/hooks-lint.host.test.ts builds, with meta.json beside each). What each case
 * must give is the case's design (the misconfiguration it was built with, or its fix), the same
 * expectation the e2e test holds against the live kernel.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCENARIO_IDS } from '../../src/model/scenario.js';
import { ROOT } from '../helpers/sys.js';
import { lintFails, lintHooks } from '../../src/analysis/hooks-lint.js';
import { parseNftRuleset } from '../../src/parsers/nft-ruleset.js';
import { parseIptablesSave } from '../../src/parsers/iptables-save.js';
import type { HooksReport } from '../../src/model/hooks.js';
import type { LegacyTable } from '../../src/model/hooks-lint.js';

const DIR = join(ROOT, 'test/fixtures/hooks-lint');
const cases = existsSync(DIR)
  ? readdirSync(DIR).flatMap((kernel) => readdirSync(join(DIR, kernel)).map((name) => ({ kernel, name, dir: join(DIR, kernel, name) })))
  : [];

/** The warnings each case was built to have (its e2e test's expectation). */
const WARNINGS: Record<string, string[]> = {
  fresh: [], 'nfs001-nft': ['NFS001', 'NFS001'], 'nfs001-legacy': ['NFS001'], 'nfs002-filter-only': [], nfs002: ['NFS002', 'NFS002'], nfs003: ['NFS003'],
  nfs004: ['NFS004', 'NFS004'], nfs005: [], nfs006: ['NFS006'],
};
/** And the infos (distinct codes); every other case has none. */
const INFOS: Record<string, string[]> = { 'nfs002-filter-only': ['NFS002'], 'nfs003-fixed': ['NFS003'], nfs005: ['NFS005'], 'example-all-in-one': ['NFS002'] };
const expected = (name: string) => WARNINGS[name] ?? (name.endsWith('-fixed') || name.startsWith('example-') ? [] : undefined);

function load(dir: string) {
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : null);
  const report = JSON.parse(read('hooks.json')!) as HooksReport;
  const nft = read('nft-ruleset.json');
  const legacy: LegacyTable[] = [];
  for (const tool of ['iptables-legacy', 'ip6tables-legacy'] as const) {
    const t = read(`${tool}-save.txt`);
    if (t !== null) legacy.push(...parseIptablesSave(t, tool));
  }
  return { report, ruleset: nft === null ? { chains: [], rules: [] } : parseNftRuleset(nft), legacy, meta: JSON.parse(read('meta.json')!) };
}

describe('hooks --lint on captured namespaces', () => {
  it('the cases are there, each with its meta', () => {
    expect(cases.length, `no fixtures under ${DIR}: scripts/capture/hooks-lint.sh`).toBeGreaterThan(0);
    for (const c of cases) {
      const { meta } = load(c.dir);
      expect(meta.kernel, c.name).toBe(c.kernel);
      expect(meta.tool, c.name).toMatch(/nft v?\d/);
    }
    expect(cases.map((c) => c.name)).toEqual(expect.arrayContaining(Object.keys(WARNINGS)));
  });

  it.each(cases)('$kernel $name: the warnings it was built with', (c) => {
    const want = expected(c.name);
    expect(want, `no expectation for case ${c.name}`).toBeDefined();
    const { report, ruleset, legacy } = load(c.dir);
    const findings = lintHooks({ report, ruleset, legacy, netnsArg: '--netns x' });
    const warnings = findings.filter((f) => f.severity === 'warning').map((f) => f.code);
    expect(warnings.sort()).toEqual(want);
    expect([...new Set(findings.filter((f) => f.severity === 'info').map((f) => f.code))].sort()).toEqual(INFOS[c.name] ?? []);
    expect(lintFails(findings)).toBe(want!.length > 0);
    for (const f of findings) {
      expect(f.why.length).toBeGreaterThan(20);
      expect(f.shownBy).toMatch(/^nfscope |^conntrack /);
      // Each pitfall the lab reproduces names its scenario, and only those (the catalogue's ids).
      const want = { NFS001: 'early-chain', NFS002: 'equal-priority', NFS003: 'mixed-backends', NFS004: 'notrack' }[f.code as string];
      expect(f.scenario).toBe(want);
      if (want) expect(SCENARIO_IDS).toContain(want);
    }
  });
});

describe('parsers of the lint inputs', () => {
  it('nft -j list ruleset: the -300 prerouting chain and its ct state rule', () => {
    const c = cases.find((x) => x.name === 'nfs001-nft')!;
    const rs = parseNftRuleset(readFileSync(join(c.dir, 'nft-ruleset.json'), 'utf8'));
    expect(rs.chains).toEqual([{ family: 'inet', table: 'geo', name: 'pre', hook: 'prerouting', prio: -300, type: 'filter', policy: 'accept', devices: [] }]);
    expect(rs.rules.map((r) => [r.chain, r.ctReads, r.notrack, r.nat, r.drop, r.ordered])).toEqual([['pre', ['state'], false, false, false, false]]);
  });

  it('nft -j list ruleset: notrack is a statement, not a read', () => {
    const c = cases.find((x) => x.name === 'nfs004')!;
    const rs = parseNftRuleset(readFileSync(join(c.dir, 'nft-ruleset.json'), 'utf8'));
    expect(rs.rules.map((r) => [r.chain, r.ctReads, r.notrack, r.drop])).toEqual([['in', ['state'], false, true], ['pre', [], true, false]]);
  });

  it('iptables-legacy-save: tables, policies, and the raw rule that reads conntrack', () => {
    const c = cases.find((x) => x.name === 'nfs001-legacy')!;
    const tables = parseIptablesSave(readFileSync(join(c.dir, 'iptables-legacy-save.txt'), 'utf8'), 'iptables-legacy');
    const raw = tables.find((t) => t.table === 'raw')!;
    expect(raw.policies).toEqual({ PREROUTING: 'ACCEPT', OUTPUT: 'ACCEPT' });
    expect(raw.rules.map((r) => [r.chain, r.ctReads])).toEqual([['PREROUTING', true]]);
  });

  it('iptables-legacy-save: a table cut before COMMIT is an error with its line', () => {
    expect(() => parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n', 'iptables-legacy')).toThrow(/no COMMIT/);
    expect(() => parseIptablesSave('-A INPUT -j DROP\n', 'iptables-legacy')).toThrow(/outside any table/);
  });
});

describe('hooks --diff on captured listings', () => {
  it('nfs002 → nfs002-fixed: chain b of inet b went from priority 0 to 10 on both IP families, nothing else', async () => {
    const { diffHooks } = await import('../../src/analysis/hooks-diff.js');
    const at = (name: string) => load(cases.find((c) => c.name === name)!.dir).report;
    const d = diffHooks(at('nfs002').hooks, at('nfs002-fixed').hooks);
    expect(d.map((h) => [`${h.family} ${h.hook}`, h.changes.map((c) => `${c.kind} ${c.entry.chain?.table} ${'from' in c ? `${c.from}→${c.to}` : ''}`)])).toEqual([
      ['ipv4 LOCAL_IN', ['priority b 0→10']], ['ipv6 LOCAL_IN', ['priority b 0→10']],
    ]);
    expect(diffHooks(at('nfs002').hooks, at('nfs002').hooks)).toEqual([]);
  });
});
