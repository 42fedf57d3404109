import { capabilityGap, toolLine } from '../kernel/capabilities.js';
import { probeGaps, TRACE_SYN_SCHEMA_VERSION, TRACED_OBSERVATIONS, type Traced, type TracedObservation, type TraceSynReport } from '../model/trace-syn.js';
import { lostEvents, mapData, parseBpftraceJson, printfLines } from '../parsers/bpftrace-json.js';
import { parseKfreeSkb } from '../parsers/kfree-skb.js';
import { dropReasonNames } from '../kernel/drop-reasons.js';
import { parseConntrackList } from '../parsers/conntrack.js';
import { parseIptablesSaveCounters, parseNftJsonCounters } from '../parsers/counters.js';
import type { Sandbox } from './sandbox.js';
import { sessionFor, type Session } from './session.js';
import { acquireCallGraph, openCallGraph } from './graph.js';
import { inNetns, netnsLabel, type NetnsRef } from '../tools/netns.js';
import { run } from '../lib/run.js';
import { ruleComment, type Firewall, type IpFamily } from '../tools/firewall.js';
import type { Target } from '../targets/target.js';
import { buildVerdict } from '../judges/trace-syn-verdict.js';
import { summariseDrops } from '../analysis/drops.js';
import { callbackHits, unconfirmedLife } from '../analysis/ct-syn.js';
import { needsNfConn } from '../programs/adapt.js';
import { chooseProbes, LIFECYCLE_PROBES as LIFECYCLE } from '../kernel/probe-points.js';
import { ctSynProgram } from '../programs/ct_syn.js';
import { kfreeSkbSynProgram } from '../programs/kfree_skb_syn.js';
import { tracerArgv, type BpfProgram } from '../programs/program.js';
import { MEMLOCK_NOISE, type EarlyEnd } from '../tools/tracer.js';
import { readTemplate } from '../programs/templates.js';
import { parseCtSyn } from '../parsers/ct-syn.js';
import { sleep } from '../lib/time.js';
import { allSettledOrThrow } from '../lib/settled.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { CommandFailedError } from '../lib/errors.js';
import { stderrExcerpt } from '../lib/run-result.js';
import type { Running } from '../targets/target.js';

/** Why a tracer did not attach, in one line: its argv, exit and the stderr lines that say something. */
function notAttachedReason(what: string, e: CommandFailedError): string {
  const lines = e.message.split('\n').map((l) => l.trim()).filter((l) => l && !MEMLOCK_NOISE.test(l));
  return `the ${what} did not attach: ${lines.join(' | ')}`;
}

/** Why a tracer that was attached stopped before it was asked to: its exit and stderr. */
function exitedReason(what: string, r: { exitCode: number | null; signal?: string | undefined; stderr: string }): string {
  const err = stderrExcerpt(r.stderr.split('\n').filter((l) => !MEMLOCK_NOISE.test(l)).join('\n'));
  return `the ${what} exited during the run (${r.signal ? `signal ${r.signal}` : `exit ${r.exitCode ?? '?'}`}${err ? `: ${err}` : ''}), before it was stopped: its probes did not see the whole run`;
}

export interface TraceSynSpec {
  port: number;
  family: IpFamily;
  count: number;
  firewall: Firewall;
  afterConfirm: boolean;
  /** The target's own netns and firewall as the server (the classroom VM), never the default. */
  inPlace?: boolean;
  /** With inPlace: the namespace that is the server (--netns, resolved), the current one when absent. */
  inPlaceNetns?: NetnsRef;
  /** Also function_graph around the same SYN (the lab): one sandbox, one tracer for both. */
  callGraph?: boolean;
  /**
   * false: no bpftrace at all, only the table and the rule counter (the lab's priority trick,
   * whose claim reads nothing else: one compile fewer, 12-15 s under qemu TCG).
   */
  traced?: boolean;
}

export type Progress = (msg: string) => void;

async function readCounter(target: Target, sb: Sandbox, port: number): Promise<{ rule: string; packets: number } | null> {
  const c = sb.firewall.counter;
  const out = (await run(target, inNetns(sb.server, c.argv))).stdout;
  const counters = c.kind === 'iptables' ? parseIptablesSaveCounters(out, c.chain) : parseNftJsonCounters(out, c.chain);
  // The rule nfscope added: in place, the user's own DROP rules sit in the same chain; ours carries
  // the run's comment (iptables-save 1.8 quotes it: --comment "nfscope:1a2b3c").
  const tag = ruleComment(sb.id);
  const drop = c.kind === 'iptables'
    ? counters.find((x) => x.rule.includes(`--dport ${port}`) && /-j DROP$/.test(x.rule) && (x.rule.includes(`--comment "${tag}"`) || x.rule.includes(`--comment ${tag}`)))
    : counters.find((x) => /drop/.test(x.rule));
  return drop ? { rule: drop.rule, packets: drop.packets } : null;
}

/** Points the lab orders its concurrent steps by (experiments/lab.ts). */
export interface TraceSynPhases {
  /** Called once function_graph is set up (or not wanted), before bpftrace starts. */
  callGraphOpen?: () => void;
  /**
   * Awaited once the tracer is attached, before the SYN is sent: the lab
   * prepares its steps at once (bpftrace compiles on every vCPU) and lets
   * their packets go one at a time.
   */
  hold?: () => Promise<void>;
}

export async function traceSyn(on: Target | Session, spec: TraceSynSpec, progress: Progress = () => {}, phases: TraceSynPhases = {}): Promise<TraceSynReport> {
  const session = await sessionFor(on, 'trace-syn');
  const { target, caps } = session;
  const bpftrace = await session.bpftrace();
  await session.tool('conntrack');
  await session.tool(spec.firewall === 'nft' || spec.afterConfirm ? 'nft' : spec.family === 'ipv4' ? 'iptables' : 'ip6tables');
  const python = await session.python();
  const unavailable: TraceSynReport['unavailable'] = [];
  // Why each traced observation is not made, the first cause found; the report's probes are built
  // from it, and an observation left with neither a tracer nor a reason is a bug here (below).
  const why: Partial<Record<TracedObservation, string>> = {};
  const notTraced = (o: TracedObservation, reason: string) => {
    why[o] ??= reason;
  };
  const kprobes = session.cap('kprobes');
  const w = capabilityGap(kprobes);
  if (w !== null) {
    notTraced('callbacks', `which netfilter callbacks saw the SYN, and what each returned, needs kprobes on them (${w})`);
    notTraced('unconfirmed', `allocation, confirmation and free of the unconfirmed entry need kprobes on __nf_conntrack_alloc, __nf_conntrack_confirm and nf_conntrack_free (${w})`);
  }

  return session.run(async (r) => {
    const { cleanup, tracefs } = r;
    const reasonNames = await dropReasonNames(target, tracefs);
    if (reasonNames.why) unavailable.push({ observation: 'drop-reason-names', reason: reasonNames.why });
    const reasons = reasonNames.names;
    progress(spec.inPlace
      ? `in place: a client netns and veth; the DROP rule goes in ${spec.inPlaceNetns && spec.inPlaceNetns.kind !== 'current' ? `netns ${netnsLabel(spec.inPlaceNetns)}'s` : "this target's"} own firewall (undone afterwards)`
      : 'creating the sandbox (client and server netns, veth, firewall)');
    // The tracer's lock and state (tracefs only) and the sandbox (links and rules) touch nothing of
    // each other's: taken side by side, each registering its own undo.
    const fgP = spec.callGraph ? acquireCallGraph(r, unavailable) : Promise.resolve(null);
    const sbP = r.sandbox(spec);
    await allSettledOrThrow<unknown>([fgP, sbP]);
    const [fgTracer, sb] = [await fgP, await sbP];

    // The hook listing first: it is evidence, and it names the conntrack
    // callbacks this kernel registered, which are the probe points.
    const hookWarnings: string[] = [];
    const hooks = await r.serverHooks(sb, spec.family, unavailable, progress, hookWarnings);
    let program: BpfProgram | null = null;
    const syn = { port: spec.port, serverInode: sb.serverInode };
    if (kprobes.available) {
      const probes = await chooseProbes(target, tracefs, hooks, spec.family);
      if ('failure' in probes) {
        notTraced('callbacks', `the conntrack tracer was not run: ${probes.failure}`);
        notTraced('unconfirmed', `the conntrack tracer was not run: ${probes.failure}`);
      } else if (probes.conntrack === 0 || probes.missing.some((m) => LIFECYCLE.includes(m))) {
        const w = probes.conntrack === 0
          ? `no conntrack callback of the hook listing is in available_filter_functions${probes.missing.length ? ` (missing: ${probes.missing.join(', ')})` : ''}`
          : `not in available_filter_functions: ${probes.missing.join(', ')}`;
        notTraced('callbacks', `the conntrack tracer was not run: ${w}`);
        notTraced('unconfirmed', `the conntrack tracer was not run: ${w}`);
      } else {
        const filled = ctSynProgram(await readTemplate('ct_syn'), { callbacks: probes.callbacks, ...syn });
        const noType = needsNfConn(filled.text, await session.bpfShape(tracefs));
        if (noType) {
          notTraced('callbacks', `the conntrack tracer reads struct nf_conn, which bpftrace cannot know here: ${noType}`);
          notTraced('unconfirmed', `the entry's status (IPS_CONFIRMED) is read from struct nf_conn: ${noType}`);
        } else program = await r.adapted(filled);
        if (probes.missing.length) progress(`not probed (not in available_filter_functions): ${probes.missing.join(', ')}`);
      }
    }

    // function_graph first, bpftrace after: set_ftrace_filter and current_tracer written while
    // bpftrace attached its kprobes locked up both vCPUs of a 6.1 guest (soft lockup, tee and
    // bpftrace, under qemu TCG). Never the two at once.
    const cg = fgTracer ? await openCallGraph(r, fgTracer, hooks, spec.family, undefined, progress) : null;
    phases.callGraphOpen?.();

    const traced = spec.traced !== false;
    if (!traced) {
      program = null;
      for (const o of TRACED_OBSERVATIONS) notTraced(o, 'not traced in this run: it reads the conntrack table and the rule counter only');
    }
    // The tracer is attached once its BEGIN probe prints READY: bpftrace 0.17 runs BEGIN only after
    // every other probe attached, and exits (255) without it when one fails (kprobe_events absent,
    // a symbol it cannot probe). When the conntrack tracer fails so, the kfree_skb tracer alone still
    // sees the drop.
    let tracer: Running | null = null;
    let endedEarly: () => EarlyEnd | null = () => null;
    let lines: string[] = [];
    let tracing: readonly TracedObservation[] = [];
    let what = '';
    while (traced && !tracer) {
      const conntrack = program !== null;
      what = conntrack ? 'conntrack tracer' : 'kfree_skb tracer';
      progress(conntrack ? 'attaching kprobes on conntrack and skb:kfree_skb' : 'attaching skb:kfree_skb');
      try {
        ({ tracer, lines, endedEarly } = await r.tracer(
          await r.tracerArgv(bpftrace, program ?? (await r.bundledProgram('kfree_skb_syn', kfreeSkbSynProgram(await readTemplate('kfree_skb_syn'), syn)))),
          what, { keepLines: true },
        ));
        tracing = conntrack ? TRACED_OBSERVATIONS : ['drop'];
      } catch (e) {
        if (!(e instanceof CommandFailedError)) throw e;
        const reason = notAttachedReason(what, e);
        if (conntrack) {
          notTraced('callbacks', reason);
          notTraced('unconfirmed', reason);
          program = null;
        } else {
          notTraced('drop', reason);
          break;
        }
      }
    }

    if (phases.hold) await phases.hold();
    progress(`sending ${spec.count} SYN(s) to [${sb.serverAddr}]:${spec.port}`);
    const synArgv = inNetns(sb.client, [python, await target.bundled('payload/net/syn.py'), sb.serverAddr, String(spec.port), String(spec.count), '300', ...(cg ? [cg.fg.pidFile] : [])]);
    await cg?.fg.start();
    await run(target, synArgv);
    await cg?.fg.stop();
    cleanup.note(`${spec.count} SYN(s) sent to [${sb.serverAddr}]:${spec.port}; tracer lines so far: ${lines.length}`);

    // The drops happen in softirq context before connect() returns; wait until
    // each SYN's drop is in, or two seconds have passed (a SYN not dropped
    // means a broken sandbox, and the report will say no drop was seen).
    // The entry is freed just after the drop's tracepoint: a short grace for it.
    const t0 = Date.now();
    while (tracer && lines.filter((l) => l.startsWith('K ')).length < spec.count && Date.now() - t0 < 2000) await sleep(20);
    if (program) await sleep(300);
    // A tracer with no exit() of its own that is gone before its stop saw only part of the run.
    const exitedEarly = endedEarly() !== null;
    const out = tracer ? await tracer.stop() : { stdout: '', argv: [] as string[], exitCode: null, stderr: '' };
    if (exitedEarly) for (const o of tracing) notTraced(o, exitedReason(what, out));
    const probes = Object.fromEntries(TRACED_OBSERVATIONS.map((o): [TracedObservation, Traced] => {
      if (tracing.includes(o) && !exitedEarly) return [o, { attached: true }];
      const reason = why[o];
      if (!reason) throw new Error(`trace-syn: ${o} was neither traced nor given a reason: a bug in experiments/trace-syn.ts`);
      return [o, { attached: false, reason }];
    })) as Record<TracedObservation, Traced>;
    if (tracer) cleanup.note(`tracer stopped: ${out.stdout.split('\n').length} lines of output`);
    if (tracer) await captureFixture(program ? 'ct_syn' : 'kfree_skb_syn', caps.kernel,
      `${spec.family}-${spec.firewall}${spec.afterConfirm ? '-after-confirm' : ''}${spec.inPlace ? '-in-place' : ''}-count${spec.count}`,
      { 'stdout.jsonl': out.stdout }, {
        argv: (program ? tracerArgv(['bpftrace'], { ...program, text: '<bpf/ct_syn.bt with probes: ' + program.text.match(/^kprobe:\S+/gm)?.join(' ') + '>' }) : out.argv).join(' '),
        tool: () => toolLine(target, ['bpftrace']),
        setup: `nfscope trace-syn --port ${spec.port} --family ${spec.family} --firewall ${spec.firewall} --count ${spec.count}${spec.afterConfirm ? ' --after-confirm' : ''}`,
      });
    const events = parseBpftraceJson(out.stdout);
    const ct0 = probes.callbacks.attached ? parseCtSyn(printfLines(events)) : null;
    const drops = !probes.drop.attached ? [] : ct0 ? ct0.drops : parseKfreeSkb(printfLines(events)).drops;
    const lost = lostEvents(events);
    if (lost > 0) unavailable.push({ observation: 'lost-events', reason: `bpftrace lost ${lost} event(s): counts may be low` });

    progress('reading the rule counter and the conntrack table');
    const ruleCounter = await readCounter(target, sb, spec.port);
    // The flow from our client only: in place, the table also holds the target's own flows.
    const ctArgv = inNetns(sb.server, ['conntrack', '-L', '-f', spec.family, '-p', 'tcp', '--orig-src', sb.clientAddr, '--orig-port-dst', String(spec.port)]);
    const ct = parseConntrackList((await run(target, ctArgv)).stdout);

    const tree = cg ? await cg.collect(caps.kernel, `syn-${spec.family}-${spec.firewall}-with-trace-syn`, `nfscope lab (trace-syn with function_graph), port ${spec.port}`) : null;
    const moreDrops = Object.values(mapData(events, '@more_drops')).reduce((a, b) => a + b, 0);
    const drop = summariseDrops(drops, reasons, hooks, spec.family, ruleCounter, sb.firewall.dropAt);
    if (drop) drop.count += moreDrops;
    const entry = ct[0];
    const report: TraceSynReport = {
      schemaVersion: TRACE_SYN_SCHEMA_VERSION,
      kernel: caps.kernel,
      target: target.name,
      family: spec.family,
      port: spec.port,
      firewall: spec.firewall,
      afterConfirm: spec.afterConfirm,
      synsSent: spec.count,
      sandbox: { client: sb.client.name, server: netnsLabel(sb.server), inPlace: sb.inPlace, clientAddr: sb.clientAddr, serverAddr: sb.serverAddr },
      callbacks: ct0 ? callbackHits(ct0, hooks, spec.family, drop) : [],
      drop,
      conntrackEntries: ct.length,
      conntrackEntry: entry
        ? {
            state: entry.state,
            original: Object.entries(entry.original).map(([k, v]) => `${k}=${v}`).join(' '),
            reply: Object.entries(entry.reply).map(([k, v]) => `${k}=${v}`).join(' '),
            flags: entry.flags,
          }
        : null,
      unconfirmed: ct0 ? unconfirmedLife(ct0) : null,
      hooks,
      hookWarnings,
      probes,
      unavailable: [...probeGaps(probes), ...unavailable],
      ruleCounter,
      verdict: '',
    };
    if (spec.callGraph) report.callGraph = tree;
    report.verdict = buildVerdict(report);
    return report;
  });
}
