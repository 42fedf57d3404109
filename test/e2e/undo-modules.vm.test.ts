/**
 * Issue 26 (2), on a real kernel with loadable modules (the micro-VM; this host has none):
 * - trace-syn --in-place with nf_defrag_ipv4 loaded beforehand (a dependency of nf_conntrack) and
 *   br_netfilter loaded by "another program" while the run is on: at the end the run's own modules
 *   (nf_conntrack, xt_conntrack, …) are gone, nf_defrag_ipv4 and br_netfilter stay (`modprobe -r`
 *   took the first, and the old diff of module lists the second);
 * - the lab's nf_conntrack reload (enable_hooks=1) with nf_conntrack_max and
 *   nf_conntrack_tcp_timeout_established set to unusual values and br_netfilter loaded: after it,
 *   the same values and the same module list.
 * Each test boots its own VM and asserts no qemu is left.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { qemuProcesses } from '../helpers/qemu.js';
import { QemuTarget } from '../../src/targets/qemu.js';

const VM_TIMEOUT = 300_000;
afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

async function sh(t: QemuTarget, argv: string[]): Promise<string> {
  const r = await t.exec(argv, { timeoutMs: 60_000 });
  expect(r.exitCode, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The guest's module names, sorted (the kernel lists the newest first). */
async function modules(t: QemuTarget): Promise<string[]> {
  return (await sh(t, ['cat', '/proc/modules'])).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean).sort();
}

/** A module and every module it depends on, from the kernel's modinfo (depends=), recursively. */
async function withDependencies(t: QemuTarget, name: string): Promise<string[]> {
  const seen = new Set<string>();
  const todo = [name];
  while (todo.length) {
    const m = todo.pop()!;
    if (seen.has(m)) continue;
    seen.add(m);
    todo.push(...(await sh(t, ['modinfo', '-F', 'depends', m])).trim().split(',').filter(Boolean));
  }
  return [...seen];
}

describe('modules and sysctls put back as they were (micro-VM)', () => {
  it('trace-syn --in-place: its own modules go; a dependency loaded before and a module another program loaded meanwhile stay', async () => {
    const { traceSyn } = await import('../../src/experiments/trace-syn.js');
    const t = await QemuTarget.boot({});
    try {
      await sh(t, ['modprobe', 'nf_defrag_ipv4']);
      // veth stays loaded by design (model/module-undo.ts: removing it deletes every veth device): loaded first here.
      await sh(t, ['modprobe', 'veth']);
      expect(await modules(t)).not.toContain('nf_conntrack'); // the premise: the run loads it
      await sh(t, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
      const before = await modules(t);
      const rules = await sh(t, ['iptables', '-S']);
      const rep = await traceSyn(t, { port: 2571, family: 'ipv4', count: 1, firewall: 'iptables', afterConfirm: false, inPlace: true, traced: false }, () => {}, {
        hold: async () => {
          await sh(t, ['modprobe', 'br_netfilter']);
          expect(await modules(t)).toContain('nf_conntrack'); // the run's rule pulled it in
        },
      });
      expect(rep.ruleCounter ?? rep.drop?.ruleCounter).toMatchObject({ packets: 1 });
      // The other program's module stays with the modules it pulled in (the kernel's modinfo says which).
      const theirs = await withDependencies(t, 'br_netfilter');
      expect(theirs).toContain('bridge');
      expect(await modules(t)).toEqual([...new Set([...before, ...theirs])].sort());
      expect(await sh(t, ['iptables', '-S'])).toBe(rules);
    } finally {
      await t.close();
    }
  }, VM_TIMEOUT);

  it('lab module reload: nf_conntrack_max, the established timeout and the module list as before', async () => {
    const { Session } = await import('../../src/experiments/session.js');
    const { registrationByModule } = await import('../../src/experiments/registration.js');
    const t = await QemuTarget.boot({});
    try {
      await sh(t, ['modprobe', 'nf_conntrack']);
      await sh(t, ['modprobe', 'br_netfilter']);
      // The lab's netns pair needs veth, which nfscope never unloads (model/module-undo.ts): loaded first.
      await sh(t, ['modprobe', 'veth']);
      await sh(t, ['sysctl', '-w', 'net.netfilter.nf_conntrack_max=54321', 'net.netfilter.nf_conntrack_tcp_timeout_established=7777']);
      const read = async () => (await sh(t, ['sysctl', '-n', 'net.netfilter.nf_conntrack_max', 'net.netfilter.nf_conntrack_tcp_timeout_established'])).split('\n').filter(Boolean);
      expect(await read()).toEqual(['54321', '7777']);
      const allBefore = await sh(t, ['sysctl', 'net.netfilter']);
      const before = await modules(t);
      const session = await Session.open(t, 'lab');
      const progress: string[] = [];
      const r = await registrationByModule(session, 2571, (m) => progress.push(m));
      expect(r, progress.join('\n')).toMatchObject({ status: 'observed', command: 'modprobe nf_conntrack enable_hooks=1' });
      expect(progress.join('\n')).not.toMatch(/not restored/);
      expect(await read()).toEqual(['54321', '7777']);
      // Every net.netfilter value (nf_conntrack_count may move with traffic: left out).
      const strip = (s: string) => s.split('\n').filter((l) => !/nf_conntrack_count/.test(l)).join('\n');
      expect(strip(await sh(t, ['sysctl', 'net.netfilter']))).toBe(strip(allBefore));
      expect(await modules(t)).toEqual(before);
      // And enable_hooks is off again: the module was reloaded without it. The parameter has no sysfs
      // file (module_param mode 0000), so the kernel is asked what it does: a fresh netns with no rule
      // has no conntrack callback (enable_hooks=1 registers them in every netns).
      await sh(t, ['ip', 'netns', 'add', 'fresh']);
      const { hooksReports } = await import('../../src/experiments/hooks.js');
      const { reports } = await hooksReports(t, { netns: 'fresh', family: 'ipv4', backend: 'bpftrace' });
      const callbacks = reports[0]!.hooks.flatMap((h) => h.entries.map((e) => e.callback));
      expect(callbacks.filter((c) => /conntrack/.test(c))).toEqual([]);
    } finally {
      await t.close();
    }
  }, VM_TIMEOUT);
});
