import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import { run } from '../lib/run.js';
import { inNetns } from '../tools/netns.js';
import { LAB_SCHEMA_VERSION, type LabReport } from '../model/lab.js';
import { judgeLab } from '../judges/lab.js';
import type { LabInputs } from '../model/lab.js';
import type { LifetimesReport } from '../model/lifetimes.js';
import type { TraceSynReport } from '../model/trace-syn.js';
import { captureRegistration, registrationByModule, registrationByRule } from './registration.js';
import type { Target } from '../targets/target.js';
import { lifetimes } from './lifetimes.js';
import { Session } from './session.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { traceSyn } from './trace-syn.js';

export interface LabSpec {
  port: number;
  /** SYNs of the lifetimes step's burst. */
  burst: number;
}

export type LabProgress = (step: string) => void;

/** A promise the lab opens when a step's packets may go. */
function gate(): { open: () => void; wait: () => Promise<void> } {
  let open!: () => void;
  const p = new Promise<void>((res) => (open = res));
  return { open, wait: () => p };
}

/**
 * The five observations of the experiment, in the article's order, each run
 * for real on the target, in one experiment session: one capability probe,
 * one hook listing server, modules unloaded once at the end, and the call
 * tree taken around the same SYN trace-syn follows.
 */
export async function lab(target: Target, spec: LabSpec, progress: LabProgress = () => {}): Promise<LabReport> {
  const base = { port: spec.port, family: 'ipv4' as const, count: 1, firewall: 'iptables' as const };
  const sub = (m: string) => progress(`  ${m}`);
  const session = await Session.open(target, 'the lab', ['ipv4']);
  return session.run(async (r) => {
    r.warmHooks(sub);
    progress('step 1/4: conntrack registers its hooks only when something needs it (module reload, then a rule on a live flow)');
    // The module reload first: on a kernel where nothing has loaded conntrack yet.
    const byModule = await registrationByModule(session, spec.port, sub);
    // The rule's half runs alongside the preparation of steps 2-4: its netns is its own, and
    // conntrack registers its hooks per netns.
    const byRuleP = registrationByRule(session, spec.port, sub);

    // Steps 2-4 are prepared at once (sandboxes, listings, and above all their bpftrace compiles,
    // 3-5 s each under qemu TCG on 6.1 with their BTF subsets, kernel/bpftrace-btf.ts; 12-20 s without,
    // on every vCPU), then their packets go one step at a time:
    // each tracer filters on its own sandbox's netns, so none sees another's packets.
    // The order that keeps the kernel safe: ftrace settings are never written while a bpftrace
    // attaches kprobes (a 6.1 guest locked up when they were). So step 2 sets up function_graph
    // before any tracer of the three starts, and its function_graph is switched on for the SYN
    // only once all three tracers are attached.
    progress('steps 2-4: preparing their sandboxes and tracers at once; the packets go one step at a time');
    const [g2, g3, g4] = [gate(), gate(), gate()];
    const [cgOpen, ready2, ready3, ready4] = [gate(), gate(), gate(), gate()];
    const allReady = Promise.all([ready2.wait(), ready3.wait(), ready4.wait()]);
    const python = await session.python();
    const plainP = traceSyn(session, { ...base, afterConfirm: false, callGraph: true }, (m) => progress(`  [2] ${m}`), {
      callGraphOpen: cgOpen.open,
      hold: async () => {
        ready2.open();
        await g2.wait();
        await allReady;
      },
    });
    const lifeP = (async () => {
      await cgOpen.wait();
      return session.run(async (step) => {
        const sb = await step.sandbox({ ...base, afterConfirm: false });
        return lifetimes(session, { port: spec.port, durationS: 1, netns: { inode: sb.serverInode, label: sb.server.kind === 'named' ? sb.server.name : 'current' } },
          (m) => progress(`  [3] ${m}`), async () => {
            // The workload: a burst that failed would read as "no entry", so it is an error (claim 3's reason).
            await run(r.target, inNetns(sb.client, [python, await target.bundled('payload/net/burst.py'), 'syn', sb.serverAddr, String(spec.port), String(spec.burst)]), { timeoutMs: 120_000 });
          }, async () => {
            ready3.open();
            await g3.wait();
          });
      });
    })();
    const trickP = (async () => {
      await cgOpen.wait();
      return traceSyn(session, { ...base, firewall: 'nft', afterConfirm: true, traced: false }, (m) => progress(`  [4] ${m}`), {
        hold: async () => {
          ready4.open();
          await g4.wait();
        },
      });
    })();
    // A step that ends early (no kprobes: lifetimes refuses at once) attaches nothing any more.
    void plainP.finally(() => { cgOpen.open(); ready2.open(); }).catch(() => {});
    void lifeP.finally(ready3.open).catch(() => {});
    void trickP.finally(ready4.open).catch(() => {});
    // Awaited in order below; a failure of a later one meanwhile must not go unhandled.
    for (const p of [byRuleP, plainP, lifeP, trickP]) p.catch(() => {});
    let byRule: Awaited<typeof byRuleP>;
    let plain: TraceSynReport;
    let life: LifetimesReport | null = null;
    let lifeWhy: string | null = null;
    let trick: TraceSynReport;
    try {
      byRule = await byRuleP;
      await captureRegistration(target, { byRule, byModule });
      progress('step 2/4: a SYN dropped by iptables, traced (hooks, callbacks and verdicts, call tree, drop, conntrack table)');
      g2.open();
      plain = await plainP;
      progress(`step 3/4: lifetimes of the entries during a burst of ${spec.burst} SYNs`);
      g3.open();
      try {
        life = await lifeP;
      } catch (e) {
        // Said in the claim, never hidden: no kprobes nor fentry, or a tracer that gave no result.
        if (!(e instanceof CapabilityError) && !(e instanceof CommandFailedError)) throw e;
        lifeWhy = e.message.replace(/\s*\n\s*/g, ' ').slice(0, 400);
      }
      progress('step 4/4: the priority trick (a drop chain at INT_MAX registered before conntrack)');
      g4.open();
      trick = await trickP;
    } finally {
      // On a failure, the others run to their end (or fail) and undo their own changes.
      for (const g of [cgOpen, ready2, ready3, ready4, g2, g3, g4]) g.open();
      await Promise.allSettled([byRuleP, plainP, lifeP, trickP]);
    }
    const inputs: LabInputs = { port: spec.port, registration: { byRule, byModule }, plain, life, lifeWhy, trick };
    // NFSCOPE_CAPTURE_DIR: the judges' inputs, as observed, for fixture-in tests of judges/lab.ts.
    await captureFixture('lab', plain.kernel, 'inputs', {
      'inputs.json': JSON.stringify(inputs, null, 2) + '\n',
    }, {
      argv: `nfscope lab --target ${target.name} --port ${spec.port} --burst ${spec.burst}`,
      tool: 'nfscope lab: the reports of its steps (trace-syn with function_graph, lifetimes, trace-syn --after-confirm untraced) and the registration observation',
      setup: 'the lab\'s own sandboxes',
    });

    return {
      schemaVersion: LAB_SCHEMA_VERSION,
      kernel: plain.kernel,
      target: target.name,
      port: spec.port,
      claims: judgeLab(inputs),
      pipeline: { hooks: plain.hooks, dropAt: plain.drop ? { hook: plain.drop.hook, priority: plain.drop.priority, callback: plain.drop.callback } : null },
    };
  });
}
