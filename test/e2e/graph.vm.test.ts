/**
 * nfscope graph in the micro-VM: a real function_graph on Debian's 6.1
 * (global tracer, locked: instances there offer only function and nop) and
 * 6.12 (an ftrace instance). Finds __nf_conntrack_alloc under init_conntrack
 * for the test SYN, and leaves every tracing setting as it found it. The
 * command's own text and JSON are replayed in test/unit/replay-commands.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { VM_KERNELS, qemuProcesses, withinBudget } from '../helpers/qemu.js';
import { QemuTarget } from '../../src/targets/qemu.js';
import { graph } from '../../src/experiments/graph.js';
import { findPath } from '../../src/model/call-tree.js';
import { CapabilityError, UsageError } from '../../src/lib/errors.js';
import { renderGraph } from '../../src/render/graph.js';
import { loadedModules } from '../../src/tools/modules.js';

const VM_TIMEOUT = 300_000;
afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

const T = '/sys/kernel/tracing';

async function tracingState(t: QemuTarget): Promise<Record<string, string>> {
  const read = async (f: string) => ((await t.readFile(`${T}/${f}`)) ?? '<absent>').trim();
  return {
    current_tracer: await read('current_tracer'),
    set_ftrace_filter: await read('set_ftrace_filter'),
    set_ftrace_pid: await read('set_ftrace_pid'),
    tracing_on: await read('tracing_on'),
    'funcgraph-proc': await read('options/funcgraph-proc'),
    instances: ((await t.listDir(`${T}/instances`)) ?? []).join(','),
    // The tracing lock is an flock: held (flock -n fails with 75) or free.
    lock: (await t.exists('/run/nfscope/tracing.lock')) && (await t.exec(['flock', '-n', '-E', '75', '/run/nfscope/tracing.lock', 'true'])).exitCode === 75 ? 'held' : 'free',
  };
}

/**
 * Roots: the defaults on 6.12 (the PRE_ROUTING conntrack callback and the skb free path; lab.vm's
 * step 2 takes them on every kernel of the matrix), user-chosen ones on 6.1 (--root: the case
 * that was the CLI's, which then rendered the same call trees), with the rendering of the marked path
 * and a root this kernel cannot trace, in the same VM.
 */
const ROOTS_OF: Record<(typeof VM_KERNELS)[number]['era'], string[] | undefined> = {
  '6.1': ['nf_conntrack_in', 'kfree_skb_reason'],
  '6.12': undefined,
};

describe.each(VM_KERNELS)('graph in the micro-VM, Debian $era', (k) => {
  const roots = ROOTS_OF[k.era];
  it(`finds nf_conntrack_in → init_conntrack → __nf_conntrack_alloc for the SYN${roots ? ' under --root ' + roots.join(',') + ', renders the path, refuses a root it cannot trace' : ''}, and restores tracing`, async () => {
    const t = await QemuTarget.boot({ kernelPackage: k.pkg });
    try {
      await withinBudget(t, 240_000, async () => {
        await t.exec(['mount', '-t', 'tracefs', 'nodev', T]);
        const before = await tracingState(t);
        // veth is never unloaded (model/module-undo.ts: rmmod veth deletes every veth device, a
        // container's too): loaded first, as on any machine with containers.
        expect((await t.exec(['modprobe', 'veth'])).exitCode).toBe(0);
        const modules = await loadedModules(t);
        const spec = { port: 2571, family: 'ipv4', firewall: 'iptables' } as const;
        const rep = await graph(t, roots ? { ...spec, roots } : spec);
        expect(rep.allocPath!.map((f) => f.replace(/\.constprop\.\d+$/, ''))).toEqual(['nf_conntrack_in', 'init_conntrack', '__nf_conntrack_alloc']);
        expect(rep.tracer!.instance).toBe(k.era === '6.12');
        expect(rep.roots).toEqual(roots ?? ['ipv4_conntrack_in', 'sk_skb_reason_drop']);
        // The alloc path sits under the first root (conntrack's PRE_ROUTING callback, or the
        // nf_conntrack_in asked for), and the free path frees the entry.
        const ct = rep.callTrees.filter((r) => r.tree.fn === rep.roots[0]);
        expect(ct).toHaveLength(1);
        expect(ct[0]!.comm).toBe('python3');
        // set_ftrace_pid holds the SYN sender alone: every record is that one process's, and none is
        // the guest agent's (PID 1, also python3: every capture once traced it, issue 25).
        const pids = [...new Set(rep.callTrees.map((r) => r.pid))];
        expect(pids, JSON.stringify(rep.callTrees.map((r) => [r.pid, r.comm, r.tree.fn]))).toHaveLength(1);
        expect(pids[0]).not.toBe(1);
        const free = rep.callTrees.find((r) => findPath([r.tree], ['nf_ct_destroy', 'nf_conntrack_free']));
        expect(free?.tree.fn).toBe(rep.roots[1]);
        expect(rep.dropStacks?.total, JSON.stringify(rep.unavailable)).toBe(1);
        expect(rep.stats!.lostEvents).toBe(0);
        if (roots) {
          // What `graph --root nf_conntrack_in,kfree_skb_reason --max-depth 2` prints: the path marked.
          const text = renderGraph(rep, { maxDepth: 2, color: false });
          expect(text).toMatch(/rooted at nf_conntrack_in, kfree_skb_reason\n/);
          expect(text).toMatch(/^ *» +init_conntrack/m);
          expect(text).toMatch(/^ *» +__nf_conntrack_alloc \[nf_conntrack\] +\d+\.\d us$/m);
          // A root this kernel cannot trace: refused with the reason (the CLI's exit 2: a UsageError).
          const bad = await graph(t, { ...spec, roots: ['no_such_function_xyz'] }).then(() => null, (e: Error) => e);
          expect(bad).toBeInstanceOf(UsageError);
          expect(bad!.message).toMatch(/not a traceable function on this kernel.*no_such_function_xyz/);
        }
        expect(await tracingState(t)).toEqual(before);
        // The iptables rules pulled in ip_tables, nf_conntrack, xt_conntrack…: unloaded again.
        expect(await loadedModules(t)).toEqual(modules);
      });
    } finally {
      await t.close();
    }
  }, VM_TIMEOUT);
});

describe('graph leaves a busy global tracer alone (6.1: no function_graph in instances)', () => {
  // The refusal comes before the sandbox and any bpftrace: seconds after the session starts.
  it('refuses with the reason, before building anything, and changes nothing', { timeout: VM_TIMEOUT }, async () => {
    const t = await QemuTarget.boot({ kernelPackage: VM_KERNELS[0].pkg });
    try {
      await withinBudget(t, 120_000, async () => {
        await t.exec(['mount', '-t', 'tracefs', 'nodev', T]);
        // The filter first, as nfscope does: `function` with an empty filter makes the kernel patch
        // every traceable call site (~40k text_poke_bp updates), and under multi-threaded TCG (qemu 7.2's race, vm/qemu-argv.ts) a 6.1
        // guest then locks up now and then: a vCPU stuck at a patched site (seq_read+0x0, soft lockup
        // and RCU stalls), seen here in a whole-suite run and reproduced by toggling the tracer
        // (console in the README's *The micro-VM*). With the filter, one site is patched.
        await t.exec(['tee', `${T}/set_ftrace_filter`], { input: 'vfs_read\n' });
        await t.exec(['tee', `${T}/current_tracer`], { input: 'function\n' });
        const before = await tracingState(t);
        const said: string[] = [];
        const err = await graph(t, { port: 2571, family: 'ipv4', firewall: 'iptables' }, (m) => said.push(m)).then(() => null, (e: Error) => e);
        expect(err).toBeInstanceOf(CapabilityError);
        expect(err!.message).toMatch(/current_tracer is function.*set_ftrace_filter is set/);
        expect(said.filter((m) => /sandbox|listing|attaching/.test(m))).toEqual([]);
        expect(await tracingState(t)).toEqual(before);
        expect((await t.exec(['ip', 'netns', 'list'])).stdout.trim()).toBe('');
      });
    } finally {
      await t.close();
    }
  });
});
