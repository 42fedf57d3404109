/**
 * Issue 26 (2): modules and sysctls are put back as they were. The pure choices (which fresh module
 * can go, which sysctl to write back) and the unloading loop against a stand-in target: this host
 * has no loadable modules, so /proc/modules here is a text the stand-in rewrites as `rmmod` runs,
 * in the kernel's format (kernel/module/procfs.c). The real thing: test/e2e/undo-modules.vm.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { freshModules, unloadableNow } from '../../src/model/module-undo.js';
import { sysctlsToRestore } from '../../src/model/sysctl-restore.js';
import { parseProcModules } from '../../src/parsers/proc-modules.js';
import { rmmodWhenFree, unloadFresh } from '../../src/tools/modules.js';
import { refuseUndo } from '../../src/lib/undo-allowlist.js';
import type { RawRun, Target } from '../../src/targets/target.js';

/** name → [deps it uses]: the stand-in kernel's module graph. */
type Graph = Map<string, string[]>;

function procModules(g: Graph, extraRefs: Record<string, number> = {}): string {
  return [...g.keys()].map((m) => {
    const users = [...g].filter(([, deps]) => deps.includes(m)).map(([u]) => u);
    return `${m} 16384 ${users.length + (extraRefs[m] ?? 0)} ${users.length ? users.join(',') + ',' : '-'} Live 0x0000000000000000`;
  }).join('\n') + '\n';
}

/** A target whose /proc/modules is g, and whose rmmod removes a module nothing uses (kmod's message otherwise). */
function moduleTarget(g: Graph, extraRefs: Record<string, number> = {}) {
  const calls: string[][] = [];
  const raw = (argv: string[], o: Partial<RawRun> = {}): RawRun => ({ argv, stdout: '', stderr: '', exitCode: 0, timedOut: false, durationMs: 1, ...o });
  const t: Partial<Target> = {
    name: 'stand-in',
    readFile: async (p: string) => (p === '/proc/modules' ? procModules(g, extraRefs) : null),
    exec: async (argv: string[]) => {
      calls.push(argv);
      if (argv[0] !== 'rmmod') return raw(argv, { exitCode: 1, stderr: `stand-in: ${argv[0]} not expected\n` });
      const m = argv[1]!;
      if (!g.has(m)) return raw(argv, { exitCode: 1, stderr: `rmmod: ERROR: Module ${m} is not currently loaded\n` });
      if ([...g.values()].some((d) => d.includes(m)) || (extraRefs[m] ?? 0) > 0) return raw(argv, { exitCode: 1, stderr: `rmmod: ERROR: Module ${m} is in use\n` });
      g.delete(m);
      return raw(argv);
    },
  };
  return { target: t as Target, calls };
}

describe('/proc/modules', () => {
  it('reads names, counts, users and state; a damaged line is an error', () => {
    const text = 'nf_conntrack 188416 2 xt_conntrack,nf_conntrack_netlink, Live 0xffffffffc0a1b000\nveth 40960 0 - Live 0x0000000000000000\nbig 1 - - Live 0x0\n';
    expect(parseProcModules(text)).toEqual([
      { name: 'nf_conntrack', refs: 2, usedBy: ['xt_conntrack', 'nf_conntrack_netlink'], state: 'Live' },
      { name: 'veth', refs: 0, usedBy: [], state: 'Live' },
      { name: 'big', refs: -1, usedBy: [], state: 'Live' },
    ]);
    expect(() => parseProcModules('nf_conntrack 188416\n')).toThrow(/not a line the kernel writes/);
  });
});

describe('which fresh modules may go', () => {
  const now = parseProcModules('xt_conntrack 16384 0 - Live 0x0\nnf_conntrack 16384 1 xt_conntrack, Live 0x0\nbr_netfilter 16384 0 - Live 0x0\nnf_defrag_ipv4 16384 1 nf_conntrack, Live 0x0\nveth 16384 0 - Unloading 0x0\n');
  it('only nfscope\'s, absent before, unused and live: never one loaded before, never another program\'s', () => {
    const before = new Set(['nf_defrag_ipv4']);
    expect(unloadableNow(before, now)).toEqual(['xt_conntrack']);
    expect(freshModules(before, now)).toEqual({ ours: ['xt_conntrack', 'nf_conntrack'], others: ['br_netfilter', 'veth'] });
  });
});

describe('unloadFresh against a stand-in kernel', () => {
  it('rmmod users before what they use; a dependency that was there before stays; br_netfilter (loaded meanwhile by another program) stays', async () => {
    const g: Graph = new Map([
      ['libcrc32c', []], ['nf_defrag_ipv4', []], // loaded before the run
      ['nf_conntrack', ['nf_defrag_ipv4', 'libcrc32c']], ['xt_conntrack', ['nf_conntrack']], ['nf_conntrack_netlink', ['nf_conntrack']],
      ['br_netfilter', []],
    ]);
    const { target, calls } = moduleTarget(g);
    const r = await unloadFresh(target, new Set(['libcrc32c', 'nf_defrag_ipv4']));
    expect(r).toEqual({ inUse: [], others: ['br_netfilter'], failed: [] });
    expect([...g.keys()].sort()).toEqual(['br_netfilter', 'libcrc32c', 'nf_defrag_ipv4']);
    expect(calls.map((c) => c[0])).toEqual(['rmmod', 'rmmod', 'rmmod']); // never modprobe -r
    const order = calls.map((c) => c[1]);
    expect(order.indexOf('nf_conntrack')).toBeGreaterThan(order.indexOf('xt_conntrack'));
    expect(order.indexOf('nf_conntrack')).toBeGreaterThan(order.indexOf('nf_conntrack_netlink'));
  });

  it('a fresh module something else still holds is left loaded and said, without a failure', async () => {
    const g: Graph = new Map([['nf_conntrack', []]]);
    const { target, calls } = moduleTarget(g, { nf_conntrack: 1 });
    const r = await unloadFresh(target, new Set());
    expect(r).toEqual({ inUse: ['nf_conntrack'], others: [], failed: [] });
    expect(calls).toEqual([]); // count 1: not even tried
  }, 15_000);

  it('another run on the same kernel removes a module between the read and the rmmod: gone is done, not a failure', async () => {
    // Two nfscope runs at once: each saw nf_conntrack appear during its run; the other one's rmmod
    // wins the race, right after this run read /proc/modules.
    const g: Graph = new Map([['nf_conntrack', []], ['xt_conntrack', ['nf_conntrack']]]);
    const { target, calls } = moduleTarget(g);
    const read = target.readFile.bind(target);
    let reads = 0;
    target.readFile = async (p: string) => {
      const text = await read(p);
      if (p === '/proc/modules' && ++reads === 1) g.delete('xt_conntrack'); // the other run's rmmod
      return text;
    };
    const r = await unloadFresh(target, new Set());
    expect(r).toEqual({ inUse: [], others: [], failed: [] });
    expect(calls.map((c) => c.join(' '))).toEqual(['rmmod xt_conntrack', 'rmmod nf_conntrack']);
    expect([...g.keys()]).toEqual([]);
  });

  it('a module another remover holds in Unloading is looked at again: gone by then, no failure and no second rmmod', async () => {
    const g: Graph = new Map([['nf_conntrack', []]]);
    const { target } = moduleTarget(g);
    // 0: Live at this run's read; 1: the other run's delete_module under way; 2: gone.
    let phase = 0;
    let rmmods = 0;
    target.exec = async (argv: string[]) => {
      rmmods++;
      phase = 1;
      return { argv, stdout: '', stderr: '', exitCode: 1, timedOut: false, durationMs: 1 };
    };
    const read = target.readFile.bind(target);
    target.readFile = async (p: string) => {
      if (p !== '/proc/modules' || phase === 0) return read(p);
      if (phase === 1) {
        phase = 2;
        return 'nf_conntrack 16384 0 - Unloading 0x0000000000000000\n';
      }
      return '';
    };
    const r = await unloadFresh(target, new Set());
    expect(r).toEqual({ inUse: [], others: [], failed: [] });
    expect(rmmods).toBe(1);
  });

  it('an rmmod that fails while the module is still there, unused and live, is a failure with its exit and message', async () => {
    const g: Graph = new Map([['nf_conntrack', []]]);
    const { target } = moduleTarget(g);
    const exec = target.exec.bind(target);
    target.exec = async (argv: string[], o?: Parameters<Target['exec']>[1]) =>
      argv[0] === 'rmmod' ? { argv, stdout: '', stderr: 'rmmod: ERROR: could not remove module nf_conntrack: Operation not permitted\n', exitCode: 1, timedOut: false, durationMs: 1 } : exec(argv, o);
    const r = await unloadFresh(target, new Set());
    expect(r.failed).toEqual(['rmmod nf_conntrack: exit 1: rmmod: ERROR: could not remove module nf_conntrack: Operation not permitted']);
  });

  it('rmmodWhenFree removes only the module named, and says when it was not loaded', async () => {
    const g: Graph = new Map([['nf_defrag_ipv4', []], ['nf_conntrack', ['nf_defrag_ipv4']]]);
    const { target } = moduleTarget(g);
    expect(await rmmodWhenFree(target, 'nf_conntrack')).toBe('removed');
    expect([...g.keys()]).toEqual(['nf_defrag_ipv4']);
    expect(await rmmodWhenFree(target, 'nf_conntrack')).toBe('not loaded');
  });
});

describe('net.netfilter sysctls after a reload', () => {
  const P = '/proc/sys/net/netfilter/';
  it('writes back what the reload reset, not what is unchanged; a file gone is said', () => {
    const before = new Map([[`${P}nf_conntrack_max`, '131072\n'], [`${P}nf_conntrack_tcp_timeout_established`, '600\n'], [`${P}nf_log/2`, 'NONE\n'], [`${P}nf_conntrack_helper`, '0\n']]);
    const now = new Map([[`${P}nf_conntrack_max`, '65536\n'], [`${P}nf_conntrack_tcp_timeout_established`, '432000\n'], [`${P}nf_log/2`, 'NONE\n']]);
    expect(sysctlsToRestore(before, now)).toEqual({
      restore: [{ path: `${P}nf_conntrack_max`, value: '131072\n' }, { path: `${P}nf_conntrack_tcp_timeout_established`, value: '600\n' }],
      gone: [`${P}nf_conntrack_helper`],
    });
  });
  it('multi-value files compare by their values, not their whitespace', () => {
    expect(sysctlsToRestore(new Map([[`${P}x`, '1\t2\n']]), new Map([[`${P}x`, '1 2']]))).toEqual({ restore: [], gone: [] });
  });
  it('cleanup replays the journaled write-back, and nothing like it elsewhere', () => {
    expect(refuseUndo({ argv: ['tee', `${P}nf_conntrack_max`], input: '131072\n' })).toBeNull();
    expect(refuseUndo({ argv: ['tee', `${P}nf_log/2`], input: 'NONE\n' })).toBeNull();
    expect(refuseUndo({ argv: ['tee', '/proc/sys/net/ipv4/ip_forward'], input: '1\n' })).not.toBeNull();
    expect(refuseUndo({ argv: ['tee', `${P}../../kernel/core_pattern`], input: '|/tmp/x\n' })).not.toBeNull();
    expect(refuseUndo({ argv: ['tee', `${P}nf_conntrack_max`], input: 'x'.repeat(300) })).not.toBeNull();
  });
});
