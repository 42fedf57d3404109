import { TRACE_SYN_SCHEMA_VERSION, type TraceSynReport } from '../model/trace-syn.js';
import { lostEvents, mapData, parseBpftraceJson, printfLines } from '../parsers/bpftrace-json.js';
import { parseKfreeSkb } from '../parsers/kfree-skb.js';
import { parseSymbolicMap } from '../parsers/tracepoint-format.js';
import { parseConntrackList } from '../parsers/conntrack.js';
import { parseIptablesSaveCounters, parseNftJsonCounters } from '../parsers/counters.js';
import type { Sandbox } from './sandbox.js';
import { sessionFor, type Session } from './session.js';
import { openCallGraph } from './graph.js';
import { inNetns, netnsLabel } from '../tools/netns.js';
import { run } from '../tools/run.js';
import type { Firewall, IpFamily } from '../tools/firewall.js';
import type { Target } from '../targets/target.js';
import { buildVerdict } from '../analysis/verdict.js';
import { summariseDrops } from '../analysis/drops.js';
import { callbackHits, unconfirmedLife } from '../analysis/ct-syn.js';
import { needsNfConn } from '../kernel/bpf-shape.js';
import { chooseProbes, ctSynProgram, LIFECYCLE_PROBES as LIFECYCLE } from './ct-probes.js';
import { parseCtSyn } from '../parsers/ct-syn.js';
import { sleep } from '../lib/time.js';
import { captureFixture } from '../lib/fixture-capture.js';

export interface TraceSynSpec {
  port: number;
  family: IpFamily;
  count: number;
  firewall: Firewall;
  afterConfirm: boolean;
  /** The target's own netns and firewall as the server (the classroom VM), never the default. */
  inPlace?: boolean;
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
  // The rule nfscope added: in place, the user's own DROP rules sit in the same chain.
  const drop = c.kind === 'iptables'
    ? counters.find((x) => x.rule.includes(`--dport ${port}`) && /-j DROP$/.test(x.rule))
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
  const kprobes = session.cap('kprobes');
  if (!kprobes.available) {
    const why = `${kprobes.detail}: this kernel has no kprobes; ${kprobes.fix}`;
    unavailable.push(
      { observation: 'callbacks', reason: `which netfilter callbacks saw the SYN, and what each returned, needs kprobes on them (${why})` },
      { observation: 'unconfirmed', reason: `allocation, confirmation and free of the unconfirmed entry need kprobes on __nf_conntrack_alloc, __nf_conntrack_confirm and nf_conntrack_free (${why})` },
    );
  }

  return session.run(async (r) => {
    const { cleanup, tracefs } = r;
    const format = (await target.readFile(`${tracefs}/events/skb/kfree_skb/format`)) ?? '';
    const reasons = parseSymbolicMap(format, 'reason');

    progress(spec.inPlace
      ? "in place: a client netns and veth; the DROP rule goes in this target's own firewall (undone afterwards)"
      : 'creating the sandbox (client and server netns, veth, firewall)');
    const sb = await r.sandbox(spec);

    // The hook listing first: it is evidence, and it names the conntrack
    // callbacks this kernel registered, which are the probe points.
    const hooks = await r.serverHooks(sb, spec.family, unavailable, progress);
    let program: string | null = null;
    if (kprobes.available) {
      const probes = await chooseProbes(target, tracefs, hooks, spec.family);
      if ('failure' in probes) {
        unavailable.push({ observation: 'callbacks', reason: probes.failure });
      } else if (probes.conntrack === 0 || probes.missing.some((m) => LIFECYCLE.includes(m))) {
        unavailable.push({ observation: 'callbacks', reason: `no kprobe-able conntrack callback or lifecycle function (missing: ${probes.missing.join(', ') || 'conntrack callbacks'})` });
      } else {
        const filled = await ctSynProgram(probes.callbacks);
        const noType = needsNfConn(filled, await session.bpfShape(tracefs));
        if (noType) {
          unavailable.push(
            { observation: 'callbacks', reason: `the conntrack tracer reads struct nf_conn, which bpftrace cannot know here: ${noType}` },
            { observation: 'unconfirmed', reason: `the entry's status (IPS_CONFIRMED) is read from struct nf_conn: ${noType}` },
          );
        } else program = await r.program(filled);
        if (probes.missing.length) progress(`not probed (not in available_filter_functions): ${probes.missing.join(', ')}`);
      }
    }

    // function_graph first, bpftrace after: set_ftrace_filter and current_tracer written while
    // bpftrace attached its kprobes locked up both vCPUs of a 6.1 guest (soft lockup, tee and
    // bpftrace, under qemu TCG). Never the two at once.
    const cg = spec.callGraph ? await openCallGraph(r, hooks, spec.family, undefined, unavailable, progress) : null;
    phases.callGraphOpen?.();

    const args = [String(spec.port), sb.serverInode];
    const traced = spec.traced !== false;
    if (!traced) {
      program = null;
      const why = 'not traced in this run: it reads the conntrack table and the rule counter only';
      unavailable.push({ observation: 'drop', reason: why }, ...(unavailable.some((u) => u.observation === 'callbacks') ? [] : [{ observation: 'callbacks', reason: why }]));
    }
    if (traced) progress(program ? 'attaching kprobes on conntrack and skb:kfree_skb' : 'attaching skb:kfree_skb');
    const { tracer, lines } = traced
      ? await r.tracer(
        [...bpftrace, '-f', 'json', ...(program ? ['-e', program] : await r.bundledProgram('bpf/kfree_skb_syn.bt')), ...args],
        program ? 'conntrack tracer' : 'kfree_skb tracer', { keepLines: true },
      )
      : { tracer: null, lines: [] as string[] };

    if (phases.hold) await phases.hold();
    progress(`sending ${spec.count} SYN(s) to [${sb.serverAddr}]:${spec.port}`);
    const synArgv = inNetns(sb.client, [python, await target.bundled('scripts/net/syn.py'), sb.serverAddr, String(spec.port), String(spec.count), '300', ...(cg ? [cg.fg.pidFile] : [])]);
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
    const out = tracer ? await tracer.stop() : { stdout: '', argv: [] as string[] };
    if (tracer) cleanup.note(`tracer stopped: ${out.stdout.split('\n').length} lines of output`);
    if (tracer) await captureFixture(program ? 'ct_syn' : 'kfree_skb_syn', caps.kernel,
      `${spec.family}-${spec.firewall}${spec.afterConfirm ? '-after-confirm' : ''}${spec.inPlace ? '-in-place' : ''}-count${spec.count}`,
      { 'stdout.jsonl': out.stdout }, {
        argv: (program ? ['bpftrace', '-f', 'json', '-e', '<bpf/ct_syn.bt with probes: ' + program.match(/^kprobe:\S+/gm)?.join(' ') + '>', ...args] : out.argv).join(' '),
        tool: 'bpftrace v0.17.0 (Debian 12)',
        setup: `nfscope trace-syn --port ${spec.port} --family ${spec.family} --firewall ${spec.firewall} --count ${spec.count}${spec.afterConfirm ? ' --after-confirm' : ''}`,
      });
    const events = parseBpftraceJson(out.stdout);
    const ct0 = program ? parseCtSyn(printfLines(events)) : null;
    const drops = ct0 ? ct0.drops : parseKfreeSkb(printfLines(events)).drops;
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
      unavailable,
      ruleCounter,
      verdict: '',
    };
    if (spec.callGraph) report.callGraph = tree;
    report.verdict = buildVerdict(report);
    return report;
  });
}
