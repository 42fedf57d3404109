/**
 * The registration claim's judge (model/registration.ts, pure), fed the
 * observations real lab runs kept (NFSCOPE_CAPTURE_DIR; meta.json beside each):
 * Debian 6.1 in the micro-VM (nf_conntrack a module: reloaded with
 * enable_hooks=1) and the 6.18 host (conntrack built in).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conntrackEntries, judgeRegistration } from '../../src/judges/registration.js';
import type { RegistrationObservation } from '../../src/model/registration.js';
import { ROOT } from '../helpers/sys.js';

const load = (k: string): RegistrationObservation => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/registration', k, 'lab/observation.json'), 'utf8'));

describe('Debian 6.1 (micro-VM): by rule on a live flow, and by module reload', () => {
  const o = load('6.1.0-56-amd64');
  it('confirmed, each fact from its evidence', () => {
    const v = judgeRegistration(o);
    expect(v.status).toBe('confirmed');
    expect(v.facts[0]).toMatch(/^no rule: no conntrack hook in the netns; conntrack -L: 0 flow/);
    expect(v.facts[1]).toMatch(/conntrack hooks PRE_ROUTING -200 ipv4_conntrack_in, LOCAL_IN 2147483647 ipv4_confirm/);
    expect(v.facts[1]).toMatch(/ESTABLISHED/); // picked up mid-flow
    expect(v.facts[2]).toMatch(/after `modprobe nf_conntrack enable_hooks=1`, a fresh netns with no rule: conntrack hooks/);
  });
  it('refuted when any one fact is missing', () => {
    expect(judgeRegistration({ ...o, byRule: { ...o.byRule, flowsAfter: [] } }).status).toBe('refuted');
    expect(judgeRegistration({ ...o, byRule: { ...o.byRule, hooksBefore: o.byRule.hooksAfter } }).status).toBe('refuted');
    expect(judgeRegistration({ ...o, byModule: { status: 'observed', command: 'x', hooks: [] } }).status).toBe('refuted');
  });
});

describe('the 6.18 host: conntrack built in', () => {
  const o = load('6.18.44-fc-v669');
  it('confirmed by the rule alone; the module reload said not observable, with why', () => {
    const v = judgeRegistration(o);
    expect(v.status).toBe('confirmed');
    expect(o.byModule.status).toBe('not-observable');
    expect(v.facts[2]).toMatch(/^module reload not shown: .*(no loadable modules|built in)/);
    expect(conntrackEntries(o.byRule.hooksAfter)).toContain('LOCAL_IN 2147483647 nf_confirm');
  });
  it('a listing that failed is not observable, not refuted', () => {
    const v = judgeRegistration({ ...o, byRule: { ...o.byRule, unavailable: [{ observation: 'hooks', reason: 'hook listing failed: x' }] } });
    expect(v).toMatchObject({ status: 'not-observable', reason: 'hook listing failed: x' });
  });
});
