/**
 * nfscope lab --scenario on this machine's real kernel (6.18): the scenarios that need no
 * kprobes run here in full, in netns of their own, with the traffic they send themselves; every
 * claim judged from the counters nft kept, conntrack's table and the hook listing. The numbers
 * the test expects come from the workload (5 SYNs a round), not from an earlier run. The HTML
 * report of one opens in headless Chromium (screenshot in test/artifacts/).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leftoversSince, machineState, nfscope, ROOT } from '../helpers/sys.js';
import { openInChromium } from '../helpers/chromium.js';
import { expectSchema } from '../helpers/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'nfscope-scenario-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Report { scenario: string; kernel: string; claims: { id: string; phase: string; status: string; reason?: string; evidence: { kind: string; lines?: string[] }[] }[] }

async function scenario(name: string, port: number, extra: string[] = []): Promise<Report> {
  const before = machineState();
  const r = await nfscope(['lab', '--target', 'local', '--scenario', name, '--port', String(port), '--json', ...extra], { timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout) as Report;
  expectSchema('lab-scenario', report);
  expect(report.scenario).toBe(name);
  expect(await leftoversSince(before)).toEqual([]);
  return report;
}

describe('nfscope lab --scenario on the host kernel', () => {
  it('lab --list: each scenario in one line, the article\'s the default; --list --json its catalogue', async () => {
    const r = await nfscope(['lab', '--list']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['syn-drop', 'early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race']);
    const j = await nfscope(['lab', '--list', '--json']);
    expect((JSON.parse(j.stdout) as { scenarios: { id: string }[] }).scenarios.map((s) => s.id)).toEqual(['syn-drop', 'early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race']);
  });

  it('a scenario nobody wrote, or --list with a scenario, exits 2 before anything runs', async () => {
    const before = machineState();
    const a = await nfscope(['lab', '--target', 'local', '--scenario', 'udp-racer']);
    expect([a.exitCode, a.stderr.trim()]).toEqual([2, 'nfscope: unknown --scenario "udp-racer": expected syn-drop, early-chain, equal-priority, notrack, mixed-backends, stale-udp, invalid-rst, table-full, udp-race, all']);
    const b = await nfscope(['lab', '--list', '--scenario', 'early-chain']);
    expect(b.exitCode).toBe(2);
    expect(await leftoversSince(before)).toEqual([]);
  });

  it('early-chain: before conntrack no state, after it the state; every claim confirmed', async () => {
    const html = join(tmp, 'early.html');
    const report = await scenario('early-chain', 2591, ['--report', html]);
    expect(report.claims.map((c) => `${c.id} ${c.phase}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'early-chain/runs-before-conntrack problem: confirmed',
      'early-chain/no-state-before-conntrack problem: confirmed',
      'early-chain/state-after-conntrack fix: confirmed',
    ]);
    const shot = join(ROOT, 'test/artifacts/lab-scenario-early-chain.png');
    const r = await openInChromium(html, shot);
    expect(r.consoleErrors).toEqual([]);
    expect(r.shot).toBe(true);
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    expect((r.dom.match(/class="badge confirmed"/g) ?? []).length).toBe(6);
  }, 120_000);

  it('equal-priority: the newest registration first, a reload reverses, distinct priorities hold; 5 SYNs a round', async () => {
    const report = await scenario('equal-priority', 2592);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'equal-priority/reverse-registration: confirmed',
      'equal-priority/reload-reverses: confirmed',
      'equal-priority/distinct-priorities: confirmed',
    ]);
    // The counters as nft kept them: 5 SYNs sent a round, all seen first by the chain that ran first.
    const first = report.claims[0]!.evidence.find((e) => e.kind === 'counter')!.lines!;
    expect(first).toEqual(['a (priority 0)  saw first: 0', 'b (priority 0)  saw first: 5']);
  }, 120_000);

  it('notrack: untracked SYNs skip DNAT and are refused by the old port; notrack after conntrack does nothing (NFS004); without notrack they connect through it', async () => {
    const report = await scenario('notrack', 2593);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'notrack/untracked: confirmed', 'notrack/no-nat: confirmed', 'notrack/notrack-after-conntrack: confirmed', 'notrack/tracked-again: confirmed',
    ]);
  }, 120_000);

  it('mixed-backends: the legacy DROP wins over the nft ACCEPT, unseen by iptables-nft-save; flushed, the SYNs are answered', async () => {
    const report = await scenario('mixed-backends', 2594);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'mixed-backends/both-on-the-hook: confirmed', 'mixed-backends/hidden-drop: confirmed', 'mixed-backends/one-backend: confirmed',
    ]);
    const lines = report.claims[1]!.evidence[0]!.lines!;
    expect(lines[2]).toBe('syn.py: sent 5, connected 0, refused 0, no answer 5');
  }, 120_000);

  it('stale-udp: a live UDP flow keeps the old backend after the DNAT change, a new flow takes the new one, conntrack -D moves the old flow', async () => {
    const report = await scenario('stale-udp', 2596);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'stale-udp/sticks-to-old-backend: confirmed', 'stale-udp/new-flows-use-new-rule: confirmed', 'stale-udp/delete-entry: confirmed',
    ]);
    // The new flow's 5 datagrams, as the workload sent them.
    expect(report.claims[1]!.evidence[0]!.lines![1]).toBe('new backend (port 2598)  5 datagram(s)');
  }, 120_000);

  it('invalid-rst: the out-of-window segment is INVALID (conntrack\'s log says why), escapes DNAT and resets the connection; both fixes keep it', async () => {
    const report = await scenario('invalid-rst', 2599);
    // The kernel's own words for the segment (tcp_in_window's: 5.10 "over the upper bound", 6.1+ "over upper bound N"), logged in the server netns.
    const log = report.claims[1]!.evidence.find((e) => (e as { title?: string }).title?.startsWith("conntrack's INVALID log"))!;
    expect(log.lines!.filter((l) => l.includes('ip length 77'))).toEqual([expect.stringMatching(/^nf_ct_proto_6: SEQ is over (the )?upper bound.*\(over the window of the receiver\)   \[proto 6 ip length 77 \d+ → 2599\]$/)]);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'invalid-rst/marked-invalid: confirmed', 'invalid-rst/why-invalid: confirmed', 'invalid-rst/untranslated-reset: confirmed',
      'invalid-rst/fix-drop-invalid: confirmed', 'invalid-rst/fix-be-liberal: confirmed',
    ]);
  }, 120_000);

  it('table-full: not run on this machine (nf_conntrack_max is the whole machine\'s), each claim not observable and why; the max untouched', async () => {
    const max = readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim();
    const report = await scenario('table-full', 2601);
    expect(report.claims.map((c) => `${c.id}: ${c.status}`)).toEqual([
      'table-full/full-drops-new: not-observable', 'table-full/assured-kept: not-observable',
      'table-full/unassured-evicted: not-observable', 'table-full/fix-raise-max: not-observable',
    ]);
    for (const c of report.claims) expect(c.reason).toBe(`nf_conntrack_max (here ${max}) is one value for the whole machine, writable in the initial network namespace only: lowering it would drop this machine's own new connections, so nfscope changes it only on a machine it booted for the run (--target qemu)`);
    expect(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim()).toBe(max);
  }, 120_000);

  it('udp-race: two datagrams of a flow from two CPUs clash in conntrack, this kernel resolves it, both delivered; a socket per query: no clash', async () => {
    const report = await scenario('udp-race', 2603);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      'udp-race/insert-race: confirmed', 'udp-race/clash-resolved: confirmed',
      'udp-race/different-translations: confirmed', 'udp-race/fix-socket-per-query: confirmed',
    ]);
    // The workload: 300 flows of two datagrams, every one delivered.
    expect(report.claims[1]!.evidence[0]!.lines!.slice(0, 1)).toEqual([expect.stringMatching(/^race\.py: 300 socket\(s\), 600 datagrams, two at a time from CPUs \d+ and \d+$/)]);
  }, 120_000);

  it('--scenario all: the eight in one session (one listing server), each claim confirmed; --report refused with it', async () => {
    const before = machineState();
    const r = await nfscope(['lab', '--target', 'local', '--scenario', 'all', '--port', '2597', '--json'], { timeoutMs: 180_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const set = JSON.parse(r.stdout) as { reports: Report[] };
    expectSchema('lab-scenarios', set);
    expect(set.reports.map((x) => x.scenario)).toEqual(['early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race']);
    // table-full changes nothing here (the test above): its claims are not observable, every other one confirmed.
    for (const x of set.reports.filter((y) => y.scenario !== 'table-full')) expect(x.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual(x.claims.map((c) => `${c.id}: confirmed`));
    expect(r.stderr.match(/starting the hook listing server/g)).toHaveLength(1);
    expect(await leftoversSince(before)).toEqual([]);
    const bad = await nfscope(['lab', '--target', 'local', '--scenario', 'all', '--report', join(tmp, 'all.html')]);
    expect([bad.exitCode, bad.stderr.trim()]).toEqual([2, "nfscope: --report writes one scenario's report: with --scenario all, run each scenario with its own --report"]);
  }, 180_000);
});
