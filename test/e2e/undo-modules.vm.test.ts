/**
 * Issue 26 (2), on a real kernel with loadable modules (the micro-VM; this host has none):
 * - trace-syn --in-place (the guest's own netns is the server, with a rule of the "user's"), with
 *   nf_defrag_ipv4 loaded beforehand (a dependency of nf_conntrack) and br_netfilter loaded by
 *   "another program" while the run is on: the drop and the unconfirmed entries observed; at the
 *   end the run's own modules (nf_conntrack, xt_conntrack, …) are gone, nf_defrag_ipv4 and
 *   br_netfilter stay (`modprobe -r` took the first, and the old diff of module lists the second),
 *   and the guest's firewall, links and namespaces are byte-identical.
 * The lab's nf_conntrack reload with tuned sysctls and br_netfilter loaded is checked around the
 * whole lab, in test/e2e/lab.vm.test.ts (6.1).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { guestModules, guestSh, qemuProcesses } from '../helpers/qemu.js';
import { QemuTarget } from '../../src/targets/qemu.js';

const VM_TIMEOUT = 300_000;
afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

/** A module and every module it depends on, from the kernel's modinfo (depends=), recursively. */
async function withDependencies(t: QemuTarget, name: string): Promise<string[]> {
  const seen = new Set<string>();
  const todo = [name];
  while (todo.length) {
    const m = todo.pop()!;
    if (seen.has(m)) continue;
    seen.add(m);
    todo.push(...(await guestSh(t, ['modinfo', '-F', 'depends', m])).trim().split(',').filter(Boolean));
  }
  return [...seen];
}

describe('modules and sysctls put back as they were (micro-VM)', () => {
  it('trace-syn --in-place observes the drop; its own modules go, a dependency loaded before and a module another program loaded meanwhile stay; the firewall and links byte-identical', async () => {
    const { traceSyn } = await import('../../src/experiments/trace-syn.js');
    const t = await QemuTarget.boot({});
    try {
      await guestSh(t, ['modprobe', 'nf_defrag_ipv4']);
      // veth stays loaded by design (model/module-undo.ts: removing it deletes every veth device): loaded first here.
      await guestSh(t, ['modprobe', 'veth']);
      expect(await guestModules(t)).not.toContain('nf_conntrack'); // the premise: the run loads it
      // A rule of the "user's" own first: nfscope must leave it alone.
      await guestSh(t, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
      const snap = async () => {
        const out: string[] = [];
        for (const a of [['iptables-save'], ['ip6tables-save'], ['nft', 'list', 'ruleset'], ['ip', '-o', 'link'], ['ip', 'netns', 'list']]) {
          out.push((await guestSh(t, a)).replace(/^#.*$/gm, ''));
        }
        return out;
      };
      const firewallAndLinks = await snap();
      const before = await guestModules(t); // after the listings above, which may load what they use
      const rep = await traceSyn(t, { port: 2571, family: 'ipv4', count: 2, firewall: 'iptables', afterConfirm: false, inPlace: true }, () => {}, {
        hold: async () => {
          await guestSh(t, ['modprobe', 'br_netfilter']);
          expect(await guestModules(t)).toContain('nf_conntrack'); // the run's rule pulled it in
        },
      });
      // Observed in place: the target's own netns is the server.
      expect(rep.sandbox).toMatchObject({ inPlace: true, server: '(current)' });
      expect(rep.drop).toMatchObject({ reason: 'NETFILTER_DROP', hook: 'LOCAL_IN', count: 2 });
      expect(rep.drop!.ruleCounter).toMatchObject({ packets: 2 });
      expect(rep.conntrackEntry).toBeNull();
      expect(rep.unconfirmed).toMatchObject({ allocated: 2, freedUnconfirmed: 2, confirmed: 0 });
      // The other program's module stays with the modules it pulled in (the kernel's modinfo says which).
      const theirs = await withDependencies(t, 'br_netfilter');
      expect(theirs).toContain('bridge');
      expect(await guestModules(t)).toEqual([...new Set([...before, ...theirs])].sort());
      // The guest's firewall (the user's rule in place), links and namespaces byte-identical.
      expect(await snap()).toEqual(firewallAndLinks);
    } finally {
      await t.close();
    }
  }, VM_TIMEOUT);
});
