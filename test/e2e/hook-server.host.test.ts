/**
 * The hook listing server on the host kernel, for real: one bpftrace serves
 * the listings of several namespaces, and each equals what a one-shot
 * nf_hooks.bt (BEGIN probe, ksym() in bpftrace) lists for the same netns. The
 * expected listing is the kernel's own, read the other way, never typed here.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leftoversSince, machineState, type MachineState } from '../helpers/sys.js';
import { LocalTarget } from '../../src/targets/local.js';
import { Session } from '../../src/experiments/session.js';
import { bpftraceBackend } from '../../src/backends/hooks.js';
import { hookServerUnavailable } from '../../src/backends/hook-server.js';

let before: MachineState;
beforeEach(() => {
  before = machineState();
});
afterEach(async () => {
  expect(await leftoversSince(before)).toEqual([]);
});

/** Skips the test, saying why, where the kernel cannot run the server (no syscall tracepoints). */
function skipWhy(why: string | null, skip: (note: string) => never): void {
  if (!why) return;
  console.log(`skipped: ${why}`);
  skip(why);
}

describe('hook listing server (host kernel)', () => {
  it('lists several netns from one bpftrace, each as a one-shot listing does', { timeout: 120_000 }, async ({ skip }) => {
    const t = new LocalTarget();
    const session = await Session.open(t, 'the test', ['ipv4', 'ipv6']);
    const progress: string[] = [];
    const why = await session.run(async (r) => {
      const why = await hookServerUnavailable(t, r.tracefs);
      if (why) return why;
      const a = await r.sandbox({ family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false });
      const b = await r.sandbox({ family: 'ipv6', port: 2571, firewall: 'nft', afterConfirm: true });
      const bare = await r.sandbox({ family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false, bare: true });
      for (const [sb, fam] of [[a, 'ipv4'], [b, 'ipv6'], [bare, 'ipv4'], [a, 'ipv4']] as const) {
        const served = await r.hooks(sb.server, [fam], (m) => progress.push(m));
        const oneShot = await bpftraceBackend.list(t, sb.server, [fam]);
        expect(served.hooks).toEqual(oneShot.hooks);
        expect(served.warnings.filter((w) => /kallsyms/.test(w))).toEqual([]);
      }
      // The sandboxes with rules have conntrack's callbacks; the bare one has none.
      const withRules = await r.hooks(a.server, ['ipv4']);
      expect(withRules.hooks.flatMap((h) => h.entries).some((e) => e.conntrack)).toBe(true);
      const none = await r.hooks(bare.server, ['ipv4']);
      expect(none.hooks.flatMap((h) => h.entries).some((e) => e.conntrack)).toBe(false);
      // One server for all of it.
      expect(progress.filter((m) => /starting the hook listing server/.test(m))).toHaveLength(1);
      return null;
    });
    skipWhy(why, skip);
  });

  it('two runs at once: each server answers its own requests only, and both listings are the kernel\'s', { timeout: 180_000 }, async ({ skip }) => {
    const t = new LocalTarget();
    const sa = await Session.open(t, 'run A', ['ipv4']);
    const sb = await Session.open(t, 'run B', ['ipv4']);
    const why = await sa.run(async (ra) => {
      const w = await hookServerUnavailable(t, ra.tracefs);
      if (w) return w;
      return sb.run(async (rb) => {
        const a = await ra.sandbox({ family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false });
        const b = await rb.sandbox({ family: 'ipv4', port: 2572, firewall: 'nft', afterConfirm: true });
        const expectA = (await bpftraceBackend.list(t, a.server, ['ipv4'])).hooks;
        const expectB = (await bpftraceBackend.list(t, b.server, ['ipv4'])).hooks;
        // Both servers up, then listings of both runs at the same time, a few rounds.
        for (let i = 0; i < 4; i++) {
          const [la, lb] = await Promise.all([ra.hooks(a.server, ['ipv4']), rb.hooks(b.server, ['ipv4'])]);
          expect(la.hooks).toEqual(expectA);
          expect(lb.hooks).toEqual(expectB);
        }
        const A = ra.listingServer!;
        const B = rb.listingServer!;
        expect(A.token).not.toBe(B.token);
        // Each server's output holds frames of its own requests only (nfshk + its token).
        const frames = (lines: string[]) => lines.filter((l) => /^B nfshk/.test(l)).map((l) => l.slice('B nfshk'.length, 'B nfshk'.length + 5));
        expect(new Set(frames(A.lines))).toEqual(new Set([A.token]));
        expect(new Set(frames(B.lines))).toEqual(new Set([B.token]));
        expect(frames(A.lines).length).toBeGreaterThanOrEqual(4);
        return null;
      });
    });
    skipWhy(why, skip);
  });

  it('a request for a family the server was not built for gets a server that has it, not an empty answer', { timeout: 120_000 }, async ({ skip }) => {
    const t = new LocalTarget();
    const session = await Session.open(t, 'the test', ['ipv4']);
    const progress: string[] = [];
    const why = await session.run(async (r) => {
      const why = await hookServerUnavailable(t, r.tracefs);
      if (why) return why;
      const a = await r.sandbox({ family: 'ipv6', port: 2571, firewall: 'iptables', afterConfirm: false });
      await r.hooks(a.server, ['ipv4'], (m) => progress.push(m));
      const v6 = await r.hooks(a.server, ['ipv6'], (m) => progress.push(m));
      expect(v6.hooks).toEqual((await bpftraceBackend.list(t, a.server, ['ipv6'])).hooks);
      expect(v6.hooks.length).toBeGreaterThan(0);
      expect(progress.filter((m) => /starting the hook listing server/.test(m))).toHaveLength(2);
      return null;
    });
    skipWhy(why, skip);
  });
});
