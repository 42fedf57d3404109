/**
 * nfscope follow in the micro-VM (kprobes: every source), on Debian 6.1 and
 * 6.12, the cases of issue 13, each set up inside the throwaway guest by
 * test/e2e/guest/follow-cases.sh: the article's SYN drop, an INVALID drop, a
 * DNAT, the conntrack table full, an IPv6 DNAT (split between the two kernels: CASES_OF).
 * Callback names come from the kernel
 * (its hook listing: ipv4_confirm up to 6.1, nf_confirm after).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { VM_KERNELS, qemuProcesses } from '../helpers/qemu.js';
import { expectSchema } from '../helpers/schema.js';

afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function cases(out: string): Record<string, { exit: number; objs: Obj[] }> {
  const res: Record<string, { exit: number; objs: Obj[] }> = {};
  let cur: string | null = null;
  for (const l of out.split('\n')) {
    const c = /^=== CASE (\S+)$/.exec(l);
    const e = /^=== EXIT (\d+)$/.exec(l);
    if (c) { cur = c[1]!; res[cur] = { exit: -1, objs: [] }; } else if (e && cur) { res[cur]!.exit = Number(e[1]); cur = null; } else if (cur && l.startsWith('{')) res[cur]!.objs.push(JSON.parse(l));
  }
  return res;
}

const steps = (p: Obj) => Object.fromEntries((p.hooks as Obj[]).map((h) => [h.hook, (h.callbacks as Obj[]).map((c) => `${c.callback} ${c.verdict}`)]));

/**
 * Each follow run costs about 80 s of bpftrace compiles under TCG, so each case runs on one kernel:
 * the article's SYN drop on 6.1 (ipv4_confirm), the DNAT on 6.12, whose delivered packet meets
 * nf_confirm; the SYN drop's path on 6.12 is checked callback by callback by lab.vm and qemu.vm's
 * trace-syn, and follow's on this host by follow.host. On 6.1 the SYN drop, the INVALID drop and the
 * IPv6 DNAT are one follow run (`mixed`: on the veth, --count 3, the SYN, the bare ACK, then the IPv6
 * connection's SYN). scripts/capture/follow-vm.sh runs all five, one follow each, on any kernel.
 */
const CASES_OF: Record<(typeof VM_KERNELS)[number]['era'], string[]> = {
  '6.1': ['mixed', 'paths'],
  '6.12': ['dnat', 'table-full'],
};

describe.each(VM_KERNELS)('follow in the micro-VM, Debian $era', (k) => {
  const want = CASES_OF[k.era];
  it(`${want.join(', ')}`, async () => {
    // vm run's own deadline comes first, so that a slow run says so instead of being cut by vitest.
    const r = await nfscope(['vm', 'run', '--kernel', k.pkg, '--timeout', '1440', '--', 'env', `NFSCOPE_FOLLOW_CASES=${want.join(' ')}`, 'bash', '/opt/nfscope/test/e2e/guest/follow-cases.sh'], { timeoutMs: 1_500_000 });
    // A case whose set-up did not hold says so (follow-cases.sh's PRECONDITION line) rather than following another packet.
    expect(r.exitCode, `${r.stdout.split('\n').filter((l) => !l.startsWith('{')).slice(-40).join('\n')}\n${r.stderr}`).toBe(0);
    const all = cases(r.stdout);
    expect(Object.keys(all), r.stdout.slice(-3000)).toEqual(want);
    for (const [name, c] of Object.entries(all)) {
      expect(c.exit, `${name}: ${r.stdout.slice(-3000)}`).toBe(0);
      const [pkt, summary] = [c.objs[0]!, c.objs.at(-1)!];
      expectSchema('follow-packet', pkt);
      expectSchema('follow-summary', summary);
      expect(summary.sources.find((s: Obj) => s.name === 'callbacks').available, name).toBe(true);
      // --nftrace prints every packet (to join its trace); without it paths are kept in the kernel.
      expect(summary.paths.mode, name).toBe(name === 'paths' || name === 'table-full' || name === 'dnat6' ? 'paths' : 'every-packet');
    }

    // `mixed`: exactly the three packets the client sent, in order, each found by its port (and each checked below).
    const mixed = all.mixed?.objs.filter((o) => o.type === 'packet') ?? [];
    if (all.mixed) {
      const seen = mixed.map((p) => `${p.tuple.family} ${p.tuple.dport} ${p.tuple.tcpFlags.join()}`);
      expect(seen, JSON.stringify(mixed.map((p) => p.tuple))).toEqual(['ipv4 2571 syn', 'ipv4 2574 ack', 'ipv6 2582 syn']);
      expect(all.mixed.objs.at(-1)!.packets).toBe(3);
    }
    const byPort = (dport: number): Obj | undefined => mixed.find((o) => o.tuple.dport === dport);

    // The article's SYN drop: conntrack's callbacks accept at PRE_ROUTING (entry NEW, unconfirmed),
    // the filter drops at LOCAL_IN by the rule, confirm is never reached.
    const syn = all['syn-drop']?.objs[0] ?? byPort(2571);
    if (syn) {
      const s = steps(syn);
      expect(s.PRE_ROUTING).toEqual(expect.arrayContaining(['ipv4_conntrack_defrag ACCEPT', 'ipv4_conntrack_in ACCEPT']));
      expect(s.LOCAL_IN!.at(-1)).toBe(`${k.confirm} not reached`);
      // nf_tables frees the packet itself and returns STOLEN on these kernels (NF_DROP_REASON: 6.7+, Debian's 6.1.192).
      expect(s.LOCAL_IN![0]).toMatch(/^nft_do_chain_ipv4 (DROP|STOLEN)$/);
      expect(syn.conntrack).toEqual({ after: 'ipv4_conntrack_in', ctinfo: 'NEW', status: [] });
      // The article's diagnosis for this packet: its entry was made and freed unconfirmed.
      expect(syn.entry).toMatchObject({ kind: 'created, never confirmed', evidence: expect.stringContaining(`before ${k.confirm} at LOCAL_IN ran`) });
      expect(syn.nft.steps.at(-1)).toMatchObject({ table: 'filter', chain: 'INPUT', hook: 'LOCAL_IN', verdict: 'drop' });
      expect(syn.nft.steps.at(-1).rule).toMatch(/tcp dport 2571 .*drop/);
      expect(syn.fate).toMatchObject({ kind: 'dropped', hook: 'LOCAL_IN', by: expect.stringMatching(/^ip filter INPUT handle \d+$/) });
    }

    // INVALID: conntrack attaches no entry to a bare ACK (tcp_loose 0), and the ct state invalid rule drops it.
    const inv = all.invalid?.objs[0] ?? byPort(2574);
    if (inv) {
      expect(inv.tuple.tcpFlags).toEqual(['ack']);
      expect(inv.conntrack.ctinfo).toBe('INVALID (no entry)');
      expect(inv.entry.kind).toBe('no entry');
      expect(inv.nft.steps.at(-1).rule).toMatch(/ct state invalid .*drop/);
      expect(inv.fate.kind).toBe('dropped');
    }

    if (all.dnat) {
      // DNAT: nf_nat rewrites the destination port at PRE_ROUTING, the packet is delivered, the entry confirmed.
      const dn = all.dnat!.objs[0]!;
      expect(dn.nat).toEqual([expect.objectContaining({ hook: 'PRE_ROUTING', before: expect.objectContaining({ dport: 2580 }), after: expect.objectContaining({ dport: 2581 }) })]);
      expect(dn.nat[0].callback).toMatch(/^nf_nat_ipv4_(pre_routing|in|fn)$/);
      expect(steps(dn).LOCAL_IN!.at(-1)).toBe(`${k.confirm} ACCEPT`);
      expect(dn.conntrack.status).toEqual(expect.arrayContaining(['confirmed', 'dst-nat']));
      expect(dn.entry.kind).toBe('confirmed');
      // Where NAT sent it: the guest's listener on 2581 (ss in the server netns), not port 2580.
      expect(dn.socket).toMatchObject({ found: true, sockets: [expect.stringMatching(/^tcp LISTEN 198\.19\.80\.2:2581 /)], processes: [{ comm: 'python3' }], note: null });
      expect(dn.fate).toMatchObject({ kind: 'accepted', detail: expect.stringMatching(/^delivered to the local stack/) });
      const flow = all.dnat!.objs.at(-1)!.flows.find((f: Obj) => f.conntrack.length);
      expect(flow.conntrack[0]).toMatchObject({ event: 'NEW', state: 'SYN_SENT' });
    }

    if (all['table-full']) {
      // Table full: conntrack's own callback returns DROP; nothing after it runs.
      const full = all['table-full']!.objs[0]!;
      const fs = steps(full).PRE_ROUTING!;
      const at = fs.indexOf('ipv4_conntrack_in DROP');
      expect(at, `${JSON.stringify(full.tuple)}: ${fs.join(', ')}`).toBeGreaterThan(-1);
      expect(fs.slice(at + 1).every((x: string) => x.endsWith('not reached'))).toBe(true);
      expect(full.fate).toMatchObject({ kind: 'dropped', hook: 'PRE_ROUTING', by: 'ipv4_conntrack_in' });
    }

    const d6 = all.dnat6?.objs[0] ?? byPort(2582);
    if (d6) {
      // IPv6 DNAT: address and port rewritten at PRE_ROUTING by nf_nat's IPv6 callback; delivered.
      expect(d6.tuple).toMatchObject({ family: 'ipv6', src: 'fd00:80::1', dst: 'fd00:80::2', dport: 2582 });
      expect(d6.nat).toEqual([expect.objectContaining({
        hook: 'PRE_ROUTING', before: expect.objectContaining({ dst: 'fd00:80::2', dport: 2582 }), after: expect.objectContaining({ dst: 'fd00:80::3', dport: 2583 }),
      })]);
      expect(d6.nat[0].callback).toMatch(/^nf_nat_ipv6_(pre_routing|in|fn)$/);
      expect(steps(d6).PRE_ROUTING).toEqual(expect.arrayContaining(['ipv6_conntrack_in ACCEPT']));
      expect(d6.conntrack.status).toEqual(expect.arrayContaining(['confirmed', 'dst-nat']));
      expect(d6.fate).toMatchObject({ kind: 'accepted', detail: expect.stringMatching(/^delivered to the local stack/) });
      expect(d6.socket).toMatchObject({ found: true, sockets: [expect.stringMatching(/^tcp LISTEN \[fd00:80::3\]:2583 /)], processes: [{ comm: 'python3' }], note: null });
    }

    if (all.paths) {
      // One UDP flow, 28 datagrams in four phases (follow-cases.sh): 10 as the netns was, 10 after a
      // NOTRACK rule, 5 after a DROP rule, 3 after an inet chain at LOCAL_IN registered while
      // following. The kernel prints a path the first time it is taken, and every pass that ends in
      // anything but ACCEPT; the rest it counts.
      const c = all.paths;
      const pk = c.objs.filter((o) => o.type === 'packet');
      const sum = c.objs.at(-1)!;
      const sink = /^# paths sink: (.*)$/m.exec(r.stdout);
      // The workload's own count: the first 20 were delivered to the sink, the last 5 dropped.
      expect(JSON.parse(sink![1]!)).toEqual({ received: { 2590: 20 } });
      const brief = pk.map((p) => `#${p.id} ${(p.hooks ?? []).map((h: Obj) => `${h.hook}${h.counted ? '(counted)' : ''}`).join(',')} ${p.conntrack?.ctinfo ?? '-'} ${p.fate.kind}`);
      // Printed: the first datagram (its entry made at PRE_ROUTING, unconfirmed), the second (the
      // entry confirmed: conntrack's view changed), the first untracked one; then each drop, whose
      // PRE_ROUTING pass was counted (the same as the untracked packet's).
      expect(brief, JSON.stringify(sum.paths)).toEqual([
        '#1 PRE_ROUTING,LOCAL_IN NEW accepted', '#2 PRE_ROUTING,LOCAL_IN NEW accepted', '#3 PRE_ROUTING,LOCAL_IN UNTRACKED accepted',
        ...[4, 5, 6, 7, 8, 9, 10, 11].map((i) => `#${i} PRE_ROUTING(counted),LOCAL_IN UNTRACKED dropped`),
      ]);
      expect(pk[0].conntrack.status).toEqual(['confirmed']);
      expect(pk.slice(0, 3).map((p) => p.counted)).toEqual([null, null, null]);
      for (const p of pk.slice(3)) {
        expect(p.counted).toMatchObject({ hooks: ['PRE_ROUTING'], asPacket: 3 });
        expect(p.fate).toMatchObject({ kind: 'dropped', hook: 'LOCAL_IN', by: 'nft_do_chain_ipv4' });
        // The drop joined its own pass (the one that ended it): by skb, inside the hook.
        expect(p.sources).toEqual(['callbacks', 'kfree_skb']);
        expect(steps(p).LOCAL_IN![0]).toMatch(/^nft_do_chain_ipv4 (DROP|STOLEN)$/);
      }
      // The inet chain's callback was registered while following and has no probe: the hook's record
      // names it, and it accepted (the filter's callback after it began); the filter dropped.
      for (const p of pk.slice(8)) {
        expect(steps(p).LOCAL_IN).toEqual([expect.stringMatching(/^nft_do_chain_ipv4 (DROP|STOLEN)$/), `${k.confirm} not reached`, 'nft_do_chain_inet accepted (not probed: a callback after it ran)']);
      }
      // Every pass not printed was counted: 28 datagrams × 2 hooks, less the 14 printed.
      expect(sum.paths.countedPasses).toBe(28 * 2 - (3 * 2 + 8));
      // Told apart by conntrack's view: the first datagram's entry is made at PRE_ROUTING and confirmed
      // at LOCAL_IN; the later ones find it confirmed; NOTRACK leaves none.
      expect(sum.paths.list.map((e: Obj) => [e.hooks.join(' > '), e.packets, e.firstPacket])).toEqual([
        ['PRE_ROUTING ACCEPT (ct NEW) > LOCAL_IN ACCEPT (ct NEW confirmed)', 1, 1],
        ['PRE_ROUTING ACCEPT (ct NEW confirmed) > LOCAL_IN ACCEPT (ct NEW confirmed)', 9, 2],
        ['PRE_ROUTING ACCEPT (ct UNTRACKED) > LOCAL_IN ACCEPT (ct UNTRACKED)', 10, 3],
        // nf_tables may free a packet it drops and return STOLEN (NF_DROP_REASON: 6.7+, Debian's 6.1.192).
        [expect.stringMatching(/^PRE_ROUTING ACCEPT \(ct UNTRACKED\) > LOCAL_IN (DROP|STOLEN) by nft_do_chain_ipv4$/), 5, 4],
        // The new hook entries are a new path, though it ends as the one before.
        [expect.stringMatching(/^PRE_ROUTING ACCEPT \(ct UNTRACKED\) > LOCAL_IN (DROP|STOLEN) by nft_do_chain_ipv4$/), 3, 9],
      ]);
      expect(sum.paths.list.every((e: Obj) => e.flow === 'udp 198.19.80.1:* > 198.19.80.2:2590')).toBe(true);
      expect(sum.packets).toBe(11);
      expect(sum.lost).toMatchObject({ kfreeSkb: 0, callbacks: 0 });
    }
  }, 1_560_000);
});
