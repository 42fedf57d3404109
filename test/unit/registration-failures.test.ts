/**
 * The registration judge (judges/registration.ts, pure) when an instrument failed: a `conntrack -L`
 * that did not answer, a listing that lacks what the step itself registered. The observations are
 * the real 6.18 capture (test/fixtures/registration/6.18.44-fc-v669, meta.json beside it) with one
 * part replaced by a failure; the failure texts are what lib/run-result.ts's failureReason makes
 * of a run, built here from a RunFailure, not written by hand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failureReason } from '../../src/lib/run-result.js';
import { judgeRegistration } from '../../src/judges/registration.js';
import type { RegistrationObservation } from '../../src/model/registration.js';
import { ROOT } from '../helpers/sys.js';

const o: RegistrationObservation = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/registration/6.18.44-fc-v669/lab/observation.json'), 'utf8'));
const conntrackFailed = failureReason({
  argv: ['ip', 'netns', 'exec', 'nfs-s', 'conntrack', '-L', '-p', 'tcp', '--dport', '2571'],
  exitCode: 1, timedOut: false, stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: No such file or directory\n', durationMs: 12,
});
const conntrackTimedOut = failureReason({
  argv: ['conntrack', '-L'], exitCode: null, signal: 'SIGKILL', timedOut: true, stderr: '', durationMs: 20_004,
});

describe('a conntrack -L that failed is not "no flow"', () => {
  it('the capture itself is confirmed (the base of the cases below)', () => {
    expect(judgeRegistration(o).status).toBe('confirmed');
  });
  it('failed before the rule: not observable, with the command, its exit and its stderr', () => {
    const v = judgeRegistration({ ...o, byRule: { ...o.byRule, flowsBefore: { failure: conntrackFailed } } });
    expect(v.status).toBe('not-observable');
    expect(v.reason).toBe(`the conntrack table before the rule could not be read: ${conntrackFailed}`);
    expect(v.reason).toMatch(/conntrack -L -p tcp --dport 2571` exited 1: conntrack v1\.4\.7 .*Operation failed/);
  });
  it('timed out after the rule: not observable (before, a timeout read as 0 flows refuted the claim)', () => {
    const v = judgeRegistration({ ...o, byRule: { ...o.byRule, flowsAfter: { failure: conntrackTimedOut } } });
    expect(v.status).toBe('not-observable');
    expect(v.reason).toMatch(/^the conntrack table after the rule could not be read: `conntrack -L` timed out after 20 s$/);
  });
  it('an empty list that conntrack did answer still counts: no flow after the rule is refuted', () => {
    expect(judgeRegistration({ ...o, byRule: { ...o.byRule, flowsAfter: [] } }).status).toBe('refuted');
  });
});

describe('a listing without the filter hook the rule registered', () => {
  const noFilter = o.byRule.hooksAfter.map((h) => ({ ...h, entries: h.entries.filter((e) => !['iptables', 'nftables'].includes(e.owner)) }));
  it('says what the listing showed and what it warned, no guessed cause', () => {
    const warning = 'no symbol in /proc/kallsyms starts at 0xffffffffc0a01230: shown as addresses';
    const v = judgeRegistration({ ...o, byRule: { ...o.byRule, hooksAfter: noFilter, listingWarnings: [warning] } });
    expect(v.status).toBe('not-observable');
    expect(v.reason).toContain('has no iptables or nftables entry at LOCAL_IN (LOCAL_IN: ');
    expect(v.reason).toContain('nf_confirm (conntrack)'); // what the 6.18 listing had there
    expect(v.reason).toContain(`the listing said: ${warning}`);
    expect(v.reason).not.toMatch(/BTF|misread/);
  });
  it('a listing with no LOCAL_IN at all says so', () => {
    const v = judgeRegistration({ ...o, byRule: { ...o.byRule, hooksAfter: o.byRule.hooksAfter.filter((h) => h.hook !== 'LOCAL_IN') } });
    expect(v.reason).toContain('(no LOCAL_IN entry at all)');
    expect(v.reason).not.toContain('the listing said');
  });
});
