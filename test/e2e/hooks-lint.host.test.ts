/**
 * nfscope hooks --lint against this machine's real kernel: for each finding, a fresh netns
 * built to have it (the finding, its rules by the handles nft gave them, exit 1), then the
 * fix applied in the same netns (the warning gone). The nftables package's own examples,
 * each alone in a netns, give no warning; all-in-one.nft, which loads them all together,
 * puts empty base chains of equal priority on one hook, and gets NFS002 as info for it.
 * Needs root, nft, iptables-legacy and bpftrace (the dev and CI machines: 6.18).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { inNs, netnsPerTest, nfscope } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

interface Finding { code: string; severity: string; family: string; hook: string; rules: { family: string; table: string; chain: string; handle: number }[]; entries: { priority: number; callback: string }[] }
interface Lint { netns: string; findings: Finding[]; notJudged: string[]; sources: string[] }

/**
 * `hooks --lint --json` in the netns. Under scripts/capture/hooks-lint.sh (NFSCOPE_CAPTURE_DIR) each
 * call's inputs are kept as test/fixtures/hooks-lint/<kernel>/<name>/ for the fast tier.
 */
async function lint(ns: string, name: string): Promise<{ exit: number; report: Lint }> {
  if (process.env.NFSCOPE_CAPTURE_DIR) process.env.NFSCOPE_CAPTURE_CASE = name;
  const r = await nfscope(['hooks', '--lint', '--netns', ns, '--json']);
  expect([0, 1], r.stderr).toContain(r.exitCode);
  const report = JSON.parse(r.stdout) as Lint;
  expectSchema('hooks-lint', report);
  expect(report.netns).toBe(ns);
  expect(report.notJudged).toEqual([]);
  // exit 1 exactly when a warning is there: the gate.
  expect(r.exitCode).toBe(report.findings.some((f) => f.severity === 'warning') ? 1 : 0);
  return { exit: r.exitCode!, report };
}

const nft = (ns: string, cmds: string) => inNs(ns, ['nft', cmds]);
/** The handle nft gave the rule(s) of a chain, from nft itself. */
async function handles(ns: string, family: string, table: string, chain: string): Promise<number[]> {
  const j = JSON.parse(await inNs(ns, ['nft', '-j', '-a', 'list', 'chain', family, table, chain]));
  return j.nftables.filter((x: { rule?: unknown }) => x.rule).map((x: { rule: { handle: number } }) => x.rule.handle);
}
const codes = (l: Lint, severity = 'warning') => l.findings.filter((f) => f.severity === severity).map((f) => f.code).sort();

const { fresh, drop } = netnsPerTest();

describe('hooks --lint: each finding made, then fixed', () => {
  it('a fresh netns: no finding, exit 0', async () => {
    const n = await fresh();
    const { exit, report } = await lint(n, 'fresh');
    expect(report.findings).toEqual([]);
    expect(exit).toBe(0);
  });

  it('NFS001: ct state in a prerouting chain at -300 (nft-geo-filter #5); at -190 it is gone', async () => {
    const n = await fresh();
    await nft(n, 'add table inet geo; add chain inet geo pre { type filter hook prerouting priority -300; }; add rule inet geo pre ct state established accept');
    const { exit, report } = await lint(n, 'nfs001-nft');
    expect(exit).toBe(1);
    // An inet chain runs in both IP families: one finding for each.
    expect(report.findings.map((x) => `${x.code} ${x.family} ${x.hook}`).sort()).toEqual(['NFS001 ipv4 PRE_ROUTING', 'NFS001 ipv6 PRE_ROUTING']);
    const f = report.findings.find((x) => x.code === 'NFS001' && x.family === 'ipv4')!;
    expect(f.rules.map((r) => [r.family, r.table, r.chain, r.handle])).toEqual((await handles(n, 'inet', 'geo', 'pre')).map((h) => ['inet', 'geo', 'pre', h]));
    // The chain and conntrack's lookup, as the hook table has them.
    expect(f.entries.map((e) => e.priority)).toEqual([-300, -200]);

    await nft(n, 'delete table inet geo; add table inet geo; add chain inet geo pre { type filter hook prerouting priority -190; }; add rule inet geo pre ct state established accept');
    expect(codes((await lint(n, 'nfs001-nft-fixed')).report)).toEqual([]);
  });

  it('NFS001 in iptables-legacy: -m conntrack in the raw table', async () => {
    const n = await fresh();
    await inNs(n, ['iptables-legacy', '-t', 'raw', '-A', 'PREROUTING', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT']);
    const { report } = await lint(n, 'nfs001-legacy');
    expect(codes(report)).toEqual(['NFS001']);
    expect(report.findings[0]!.rules.map((r) => [r.family, r.table, r.chain])).toEqual([['iptables-legacy', 'raw', 'PREROUTING']]);
    expect(report.sources.some((s) => s.endsWith('iptables-legacy-save'))).toBe(true);
    await inNs(n, ['iptables-legacy', '-t', 'raw', '-F', 'PREROUTING']);
    await inNs(n, ['iptables-legacy', '-t', 'mangle', '-A', 'PREROUTING', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT']);
    expect(codes((await lint(n, 'nfs001-legacy-fixed')).report)).toEqual([]);
  });

  it('NFS002: two input chains at priority 0 (info while they only filter, a warning once one sets a mark); one moved to 10', async () => {
    const n = await fresh();
    await nft(n, 'add table inet a; add chain inet a in { type filter hook input priority 0; }; add table inet b; add chain inet b in { type filter hook input priority 0; }');
    const quiet = await lint(n, 'nfs002-filter-only');
    expect([quiet.exit, codes(quiet.report), codes(quiet.report, 'info')]).toEqual([0, [], ['NFS002', 'NFS002']]);
    await nft(n, 'add rule inet b in meta mark set 1');
    const { exit, report } = await lint(n, 'nfs002');
    expect(exit).toBe(1);
    // inet chains register on ipv4 and on ipv6: one finding per hook list.
    expect(report.findings.filter((f) => f.code === 'NFS002').map((f) => `${f.family} ${f.hook}`).sort()).toEqual(['ipv4 LOCAL_IN', 'ipv6 LOCAL_IN']);
    expect(codes(report)).toEqual(['NFS002', 'NFS002']);
    await nft(n, 'delete table inet b; add table inet b; add chain inet b in { type filter hook input priority 10; }; add rule inet b in meta mark set 1');
    expect((await lint(n, 'nfs002-fixed')).report.findings).toEqual([]);
  });

  it('NFS003: an iptables-legacy rule beside an nf_tables chain on INPUT; flushed, it is only info', async () => {
    const n = await fresh();
    await nft(n, 'add table inet f; add chain inet f in { type filter hook input priority 10; }');
    // An ACCEPT: a DROP on IPv4 alone would add NFS006, which is not this case's point.
    await inNs(n, ['iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'ACCEPT']);
    const { report } = await lint(n, 'nfs003');
    expect(codes(report)).toEqual(['NFS003']);
    const f = report.findings.filter((x) => x.code === 'NFS003');
    expect(f.map((x) => `${x.severity} ${x.family} ${x.hook}`)).toEqual(['warning ipv4 LOCAL_IN']);
    expect(f[0]!.rules.map((r) => [r.family, r.table, r.chain])).toEqual([['iptables-legacy', 'filter', 'INPUT']]);
    await inNs(n, ['iptables-legacy', '-F', 'INPUT']);
    const after = (await lint(n, 'nfs003-fixed')).report;
    expect(codes(after)).toEqual([]);
    // The legacy table stays registered (the kernel keeps it once made): info, exit 0.
    expect(codes(after, 'info')).toContain('NFS003');
  });

  it('NFS004: notrack in a prerouting chain at 0, after conntrack; at -300 it is gone', async () => {
    const n = await fresh();
    // A ct rule makes conntrack register in this netns (nothing else here asks for it).
    await nft(n, 'add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in ct state invalid drop; add chain inet t pre { type filter hook prerouting priority 0; }; add rule inet t pre udp dport 53 notrack');
    const { report } = await lint(n, 'nfs004');
    expect(report.findings.map((x) => `${x.code} ${x.family} ${x.hook}`).sort()).toEqual(['NFS004 ipv4 PRE_ROUTING', 'NFS004 ipv6 PRE_ROUTING']);
    expect(report.findings[0]!.rules.map((r) => r.handle)).toEqual(await handles(n, 'inet', 't', 'pre'));
    await nft(n, 'delete chain inet t pre; add chain inet t pre { type filter hook prerouting priority -300; }; add rule inet t pre udp dport 53 notrack');
    expect(codes((await lint(n, 'nfs004-fixed')).report)).toEqual([]);
  });

  it('NFS005: conntrack registered by a ct helper object no rule uses (info, exit 0); used by a rule, the finding goes', async () => {
    const n = await fresh();
    await nft(n, 'add table inet h; add ct helper inet h ftp { type "ftp" protocol tcp; }');
    const { exit, report } = await lint(n, 'nfs005');
    expect(exit).toBe(0);
    expect(report.findings.map((f) => `${f.severity} ${f.code}`)).toEqual(['info NFS005']);
    // The fix the finding names: a rule that uses it (deleting the table would do too, but
    // nf_tables releases a deleted object's conntrack reference from a work queue, after nft returns).
    await nft(n, 'add chain inet h in { type filter hook input priority 0; }; add rule inet h in tcp dport 21 ct helper set "ftp"');
    expect((await lint(n, 'nfs005-fixed')).report.findings).toEqual([]);
  });

  it('NFS006: an ip-only input chain with policy drop; as inet it is gone', async () => {
    const n = await fresh();
    await nft(n, 'add table ip f; add chain ip f in { type filter hook input priority 0; policy drop; }');
    const { report } = await lint(n, 'nfs006');
    expect(report.findings.map((f) => `${f.code} ${f.family} ${f.hook}`)).toEqual(['NFS006 ipv4 LOCAL_IN']);
    await nft(n, 'delete table ip f; add table inet f; add chain inet f in { type filter hook input priority 0; policy drop; }');
    expect((await lint(n, 'nfs006-fixed')).report.findings).toEqual([]);
  });
});

/** iptables-legacy's callback on this kernel: ipt_do_table from 5.16, iptable_filter_hook before (kallsyms). */
function legacyFilterCallback(): string {
  // A module's symbols carry "\t[module]" after the name.
  return /^\S+ [tT] ipt_do_table(\s|$)/m.test(readFileSync('/proc/kallsyms', 'utf8')) ? 'ipt_do_table' : 'iptable_filter_hook';
}

describe('hooks --diff', () => {
  it('a netns before and after `iptables-legacy -A INPUT …`: the legacy filter table\'s three entries added', async () => {
    const n = await fresh();
    const dir = mkdtempSync(join(tmpdir(), 'nfst-diff-'));
    try {
      await nft(n, 'add table inet f; add chain inet f in { type filter hook input priority 10; }');
      const saved = await nfscope(['hooks', '--netns', n, '--json']);
      expect(saved.exitCode, saved.stderr).toBe(0);
      writeFileSync(join(dir, 'before.json'), saved.stdout);
      // Against itself: no difference, exit 0.
      const same = await nfscope(['hooks', '--diff', join(dir, 'before.json'), join(dir, 'before.json')]);
      expect([same.exitCode, same.stdout.trim().split('\n').at(-1)]).toEqual([0, 'no difference']);

      await inNs(n, ['iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP']);
      const d = await nfscope(['hooks', '--diff', join(dir, 'before.json'), '--netns', n, '--json']);
      expect(d.exitCode, d.stderr).toBe(1);
      const rep = JSON.parse(d.stdout);
      expectSchema('hooks-diff', rep);
      expect([rep.a.netns, rep.b.netns, rep.b.source]).toEqual([n, n, 'this run']);
      // iptable_filter registers LOCAL_IN, FORWARD and LOCAL_OUT, at NF_IP_PRI_FILTER (0).
      const cb = legacyFilterCallback();
      expect(rep.hooks.map((h: { family: string; hook: string; changes: { kind: string; entry: { priority: number; callback: string } }[] }) =>
        [`${h.family} ${h.hook}`, h.changes.map((c) => `${c.kind} ${c.entry.priority} ${c.entry.callback}`)])).toEqual([
        ['ipv4 LOCAL_IN', [`added 0 ${cb}`]], ['ipv4 FORWARD', [`added 0 ${cb}`]], ['ipv4 LOCAL_OUT', [`added 0 ${cb}`]],
      ]);
      const text = await nfscope(['hooks', '--diff', join(dir, 'before.json'), '--netns', n]);
      expect(text.stdout).toContain(`ipv4 LOCAL_IN\n  +           0 ${cb}`);

      // A reload of one of two chains at one priority: the reloaded one now runs first (the kernel
      // puts a new entry before those of its priority). And a priority change.
      await nft(n, 'add table inet g; add chain inet g in { type filter hook input priority 10; }');
      const two = await nfscope(['hooks', '--netns', n, '--family', 'ipv4', '--json']);
      writeFileSync(join(dir, 'two.json'), two.stdout);
      await nft(n, 'delete table inet f; add table inet f; add chain inet f in { type filter hook input priority 10; }');
      const moved = JSON.parse((await nfscope(['hooks', '--diff', join(dir, 'two.json'), '--netns', n, '--json'])).stdout);
      expect(moved.hooks.map((h: { hook: string; changes: { kind: string; entry: { callback: string; chain?: { table: string } } }[] }) =>
        [h.hook, h.changes.map((c) => `${c.kind} ${c.entry.chain?.table ?? c.entry.callback}`).sort()])).toEqual([['LOCAL_IN', ['moved f', 'moved g']]]);
      await nft(n, 'delete table inet g; add table inet g; add chain inet g in { type filter hook input priority 20; }');
      const prio = JSON.parse((await nfscope(['hooks', '--diff', join(dir, 'two.json'), '--netns', n, '--json'])).stdout);
      expect(prio.hooks[0].changes.map((c: { kind: string; from?: number; to?: number }) => `${c.kind} ${c.from} ${c.to}`)).toContain('priority 10 20');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two live namespaces (netns:A netns:B): the chain only B has is added; a netns against itself, no difference; a saved file against a live one', async () => {
    const a = await fresh();
    const b = await fresh();
    const dir = mkdtempSync(join(tmpdir(), 'nfst-diff-'));
    try {
      // Both get conntrack's hooks the same way (a ct rule), B a second chain of its own at priority 5.
      await nft(a, 'add table inet c; add chain inet c in { type filter hook input priority 0; }; add rule inet c in ct state new counter');
      await nft(b, 'add table inet c; add chain inet c in { type filter hook input priority 0; }; add rule inet c in ct state new counter');
      await nft(b, 'add table inet only_b; add chain inet only_b in { type filter hook input priority 5; }');
      const d = await nfscope(['hooks', '--diff', `netns:${a}`, `netns:${b}`, '--family', 'ipv4', '--json']);
      expect(d.exitCode, d.stderr).toBe(1);
      const rep = JSON.parse(d.stdout);
      expectSchema('hooks-diff', rep);
      expect([rep.a.source, rep.a.netns, rep.b.source, rep.b.netns]).toEqual([`netns:${a}`, a, `netns:${b}`, b]);
      expect(rep.hooks.map((h: { family: string; hook: string; changes: { kind: string; entry: { priority: number; chain?: { table: string; chain: string } } }[] }) =>
        [`${h.family} ${h.hook}`, h.changes.map((c) => `${c.kind} ${c.entry.priority} ${c.entry.chain?.table}/${c.entry.chain?.chain}`)])).toEqual([['ipv4 LOCAL_IN', ['added 5 only_b/in']]]);
      const same = await nfscope(['hooks', '--diff', `netns:${a}`, `netns:${a}`]);
      expect([same.exitCode, same.stdout.trim().split('\n').at(-1)]).toEqual([0, 'no difference']);
      // A saved listing of A against B listed live.
      const saved = await nfscope(['hooks', '--netns', a, '--family', 'ipv4', '--json']);
      writeFileSync(join(dir, 'a.json'), saved.stdout);
      const mixed = await nfscope(['hooks', '--diff', join(dir, 'a.json'), `netns:${b}`, '--json']);
      expect(mixed.exitCode, mixed.stderr).toBe(1);
      expect(JSON.parse(mixed.stdout).hooks.flatMap((h: { changes: { kind: string; entry: { chain?: { table: string } } }[] }) => h.changes.map((c) => `${c.kind} ${c.entry.chain?.table}`))).toEqual(['added only_b']);
      // Refused before anything is listed: a name that is no netns name, one the machine has not
      // (the second: both are known before the first listing), and one live listing alone.
      const bad = await nfscope(['hooks', '--diff', 'netns:../etc', `netns:${b}`]);
      expect([bad.exitCode, bad.stderr]).toEqual([2, expect.stringContaining('invalid --diff "netns:../etc"')]);
      const unknown = await nfscope(['hooks', '--diff', `netns:${a}`, 'netns:nfst-no-such-ns']);
      expect([unknown.exitCode, unknown.stderr, unknown.stdout]).toEqual([2, expect.stringContaining("unknown network namespace 'nfst-no-such-ns'"), '']);
      const alone = await nfscope(['hooks', '--diff', `netns:${a}`]);
      expect([alone.exitCode, alone.stderr]).toEqual([2, expect.stringContaining('alone compares nothing')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not a hooks listing, before any listing runs (exit 6), and a third file (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfst-diff-'));
    try {
      writeFileSync(join(dir, 'x.json'), '{"nftables": []}');
      const r = await nfscope(['hooks', '--diff', join(dir, 'x.json'), join(dir, 'x.json')]);
      expect([r.exitCode, r.stderr]).toEqual([6, expect.stringContaining('not a hooks report')]);
      const three = await nfscope(['hooks', '--diff', 'a', 'b', 'c']);
      expect([three.exitCode, three.stderr]).toEqual([2, expect.stringContaining('one or two')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const EXAMPLES = '/usr/share/doc/nftables/examples';
// What the examples need that a bare netns lacks: a device (netdev-ingress, load_balancing), OS fingerprints, secmarks.
const exampleFiles = existsSync(EXAMPLES) ? readdirSync(EXAMPLES).filter((f) => f.endsWith('.nft')).sort() : [];

describe.skipIf(exampleFiles.length === 0)(`hooks --lint on the nftables package's examples (${EXAMPLES})`, () => {
  it('each example that loads alone: no warning; all-in-one: NFS002 (info) for its empty chains of equal priority', async () => {
    const seen: string[] = [];
    for (const file of exampleFiles) {
      const n = await fresh();
      const load = await execa('ip', ['netns', 'exec', n, 'nft', '-f', join(EXAMPLES, file)], { reject: false, cwd: EXAMPLES });
      if (load.exitCode !== 0) {
        // Printed, not hidden: the examples this kernel or a bare netns cannot load.
        console.log(`nftables example ${file} not loadable here: ${load.stderr.trim().split('\n')[0]}`);
        await drop(n);
        continue;
      }
      const { report } = await lint(n, `example-${file.replace('.nft', '')}`);
      seen.push(file);
      expect(codes(report), file).toEqual([]);
      // Its ip, ip6 and inet filter chains (and NAT chains) tie at their priorities, with no rule in them: info.
      if (file === 'all-in-one.nft') expect([...new Set(codes(report, 'info'))], file).toEqual(['NFS002']);
      await drop(n);
    }
    expect(seen).toContain('all-in-one.nft');
    expect(seen).toContain('workstation.nft');
    expect(seen.length).toBeGreaterThanOrEqual(10);
  }, 300_000);
});
