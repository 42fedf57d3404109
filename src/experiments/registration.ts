/**
 * The article's opening observation: conntrack is only called when something
 * needs it. Two ways to see it, each on a real kernel:
 * - flow: a fresh netns with no rule has no conntrack hooks, and a live TCP
 *   flow through it leaves no entry; a rule that needs conntrack registers
 *   the hooks (listing before and after), and the same flow's next packets
 *   create an entry, picked up mid-stream (works with built-in conntrack);
 * - module: where nf_conntrack is a module, the article's way: `modprobe -r
 *   nf_conntrack`, then `modprobe nf_conntrack enable_hooks=1` (5.1+), and a
 *   fresh netns with no rule has the hooks at once. The module state, and every
 *   net.netfilter.* sysctl the reload resets, are put back afterwards.
 */
import type { Cleanup } from '../lib/cleanup.js';
import { sleep } from '../lib/time.js';
import type { HookList } from '../model/hooks.js';
import type { FlowsSeen, ModuleReload, RegistrationObservation } from '../model/registration.js';
import { parseConntrackList } from '../parsers/conntrack.js';
import type { Target } from '../targets/target.js';
import { loadedModules, rmmodWhenFree, unloadFresh } from '../tools/modules.js';
import { keepSysctls, restoreSysctls } from '../tools/sysctl.js';
import { inNetns } from '../tools/netns.js';
import { run, tryRun } from '../lib/run.js';
import type { Sandbox } from './sandbox.js';
import type { Session } from './session.js';
import { ready } from './helpers.js';
import { kernelRelease } from '../kernel/release.js';

const CT_RULE = ['iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'];

/** The server netns's flows to the port, or why `conntrack -L` gave none: a failed run is not "no flow". */
async function flowsTo(target: Target, sb: Sandbox, port: number): Promise<FlowsSeen> {
  const r = await tryRun(target, inNetns(sb.server, ['conntrack', '-L', '-p', 'tcp', '--dport', String(port)]), { timeoutMs: 20_000 });
  return r.ok ? parseConntrackList(r.stdout) : { failure: r.reason };
}

/** Observation 0 by a rule in a fresh netns, on a live flow. */
export async function registrationByRule(session: Session, port: number, progress: (m: string) => void): Promise<RegistrationObservation['byRule']> {
  const { target } = session;
  const python = await session.python();
  return session.run(async (r) => {
    const c = r.cleanup;
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'iptables', afterConfirm: false, bare: true });
    const unavailable: { observation: string; reason: string }[] = [];
    const hooksBefore = await r.serverHooks(sb, 'ipv4', unavailable, progress);
    const flow = await target.bundled('payload/net/flow.py');
    progress(`a TCP flow ${sb.clientAddr} → ${sb.serverAddr}:${port}, one packet every 50 ms`);
    await ready(target, inNetns(sb.server, [python, flow, 'serve', sb.serverAddr, String(port)]), 'flow server', c);
    await ready(target, inNetns(sb.client, [python, flow, 'talk', sb.serverAddr, String(port), '60']), 'flow client', c);
    await sleep(300);
    const flowsBefore = await flowsTo(target, sb, port);
    progress('adding a rule that needs conntrack (iptables -m conntrack) in the server netns');
    await run(target, inNetns(sb.server, CT_RULE)); // goes with the netns
    const listingWarnings: string[] = [];
    const hooksAfter = await r.serverHooks(sb, 'ipv4', unavailable, progress, listingWarnings);
    await sleep(500);
    const flowsAfter = await flowsTo(target, sb, port);
    return { hooksBefore, flowsBefore, rule: CT_RULE.join(' '), hooksAfter, flowsAfter, unavailable, listingWarnings };
  });
}

/**
 * Observation 0 the article's way: reload nf_conntrack with enable_hooks=1.
 * Returns why not where the kernel has conntrack built in, or the module is in use.
 */
export async function registrationByModule(session: Session, port: number, progress: (m: string) => void): Promise<ModuleReload> {
  const { target } = session;
  if ((await loadedModules(target)) === null) return { status: 'not-observable', reason: 'this kernel has no loadable modules (no /proc/modules): conntrack is built in and cannot be reloaded with enable_hooks=1' };
  // modinfo answers "(builtin)" or the module's file (exit 0); any other outcome (kmod's "not
  // found", a missing /lib/modules, a timeout) says nothing about how conntrack is built.
  const info = await tryRun(target, ['modinfo', '-F', 'filename', 'nf_conntrack'], { timeoutMs: 20_000 });
  if (!info.ok) return { status: 'not-observable', reason: `cannot tell whether nf_conntrack is a module: ${info.reason}` };
  const file = info.stdout.trim();
  if (file === '' || file.includes('(builtin)')) {
    return { status: 'not-observable', reason: `nf_conntrack is ${file ? 'built into this kernel' : 'not a module here (`modinfo -F filename nf_conntrack` printed no file)'}: it cannot be reloaded with enable_hooks=1` };
  }
  const params = await tryRun(target, ['modinfo', '-F', 'parm', 'nf_conntrack'], { timeoutMs: 20_000 });
  if (!params.ok) return { status: 'not-observable', reason: `cannot tell whether nf_conntrack has an enable_hooks parameter: ${params.reason}` };
  if (!/^enable_hooks:/m.test(params.stdout)) return { status: 'not-observable', reason: 'this nf_conntrack has no enable_hooks parameter (`modinfo -F parm nf_conntrack` lists none; it came in 5.1)' };
  const before = await loadedModules(target);
  if (before === null) return { status: 'not-observable', reason: '/proc/modules went away between two reads: the module state cannot be put back, so it is not changed' };
  const wasLoaded = before.includes('nf_conntrack');
  // A run of its own (inside the lab's, its own undo scope): the module is put back before the next step.
  return session.run(async (r) => {
    const c = r.cleanup;
    // The user's net.netfilter.* values (nf_conntrack_max, the timeouts): a reload puts them back to
    // the module's defaults. Saved and their undo registered first, so that it runs last, after
    // the module is put back (which resets them once more).
    const sysctls = await keepSysctls(target, c);
    // Put back as found: unloaded, or loaded without enable_hooks. Registered before the change.
    // A step that fails is said by the cleanup (it throws), after the others were tried.
    // rmmod, not modprobe -r: modprobe -r also takes the dependencies nothing uses any more
    // (nf_defrag_ipv4/6, libcrc32c), loaded before the run (issue 26).
    c.push('restore nf_conntrack as it was', async () => {
      const failed: string[] = [];
      const out = await rmmodWhenFree(target, 'nf_conntrack');
      if (out !== 'removed' && out !== 'not loaded') failed.push(out);
      if (wasLoaded) {
        const x = await tryRun(target, ['modprobe', 'nf_conntrack'], { timeoutMs: 30_000 });
        if (!x.ok) failed.push(x.reason);
      }
      const left = await unloadFresh(target, new Set(before));
      failed.push(...left.failed);
      if (left.inUse.length) failed.push(`loaded by the reload and still in use: ${left.inUse.join(' ')}`);
      if (failed.length) throw new Error(failed.join('; '));
    });
    if (wasLoaded) {
      progress('rmmod nf_conntrack');
      const r = await c.making('rmmod nf_conntrack', () => tryRun(target, ['rmmod', 'nf_conntrack'], { timeoutMs: 30_000 }));
      if (!r.ok) return { status: 'not-observable', reason: `nf_conntrack could not be unloaded to reload it: ${r.reason}` };
    }
    progress('modprobe nf_conntrack enable_hooks=1');
    await c.making('modprobe nf_conntrack enable_hooks=1', () => run(target, ['modprobe', 'nf_conntrack', 'enable_hooks=1'], { timeoutMs: 30_000 }));
    // The user's values again at once, for the rest of the step (the undo writes them once more at the end).
    const unrestored = await c.making('restore the net.netfilter sysctls', () => restoreSysctls(target, sysctls));
    if (unrestored.length) progress(`net.netfilter sysctls not restored after the reload: ${unrestored.join('; ')}`);
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'iptables', afterConfirm: false, bare: true });
    const unavailable: { observation: string; reason: string }[] = [];
    const hooks: HookList[] = await r.serverHooks(sb, 'ipv4', unavailable, progress);
    if (unavailable.length) return { status: 'not-observable', reason: unavailable[0]!.reason };
    return { status: 'observed', command: 'modprobe nf_conntrack enable_hooks=1', hooks };
  });
}

/** NFSCOPE_CAPTURE_DIR: keeps the step's observation as a fixture of the pure judge (judges/registration.ts). */
export async function captureRegistration(target: Target, o: RegistrationObservation): Promise<void> {
  if (!process.env.NFSCOPE_CAPTURE_DIR) return;
  const { captureFixture } = await import('../lib/fixture-capture.js');
  // A version that could not be read is written as the failure, never as a blank or a guess.
  const version = async (argv: string[]) => {
    const r = await tryRun(target, argv, { timeoutMs: 20_000 });
    return r.ok ? r.stdout.trim().split('\n')[0] || `${argv[0]} printed no version` : `unknown (${r.reason})`;
  };
  const kernel = await kernelRelease(target);
  await captureFixture('registration', kernel, 'lab', { 'observation.json': JSON.stringify(o, null, 2) + '\n' }, {
    argv: 'nfscope lab (step 1: registrationByModule, registrationByRule)',
    tool: `${await version(['bpftrace', '--version'])}; ${await version(['conntrack', '--version'])}`,
    target: target.name,
    setup: 'a bare sandbox (client and server netns, veth), a TCP flow through it (payload/net/flow.py), then iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT in the server netns; where nf_conntrack is a module, before that: modprobe -r nf_conntrack; modprobe nf_conntrack enable_hooks=1; a fresh bare netns',
  });
}
