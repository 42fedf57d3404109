import { withCleanup } from '../lib/cleanup.js';
import { CapabilityError } from '../lib/errors.js';
import { probeCapabilities } from '../kernel/capabilities.js';
import type { HookList } from '../model/hooks.js';
import { TRACE_SYN_SCHEMA_VERSION, type DropObservation, type TraceSynReport } from '../model/trace-syn.js';
import { hookFromStack } from '../model/stack-hooks.js';
import { lostEvents, mapData, parseBpftraceJson, printfLines } from '../parsers/bpftrace-json.js';
import { parseKfreeSkb } from '../parsers/kfree-skb.js';
import { parseSymbolicMap } from '../parsers/tracepoint-format.js';
import { parseConntrackList } from '../parsers/conntrack.js';
import { parseIptablesSaveCounters, parseNftJsonCounters } from '../parsers/counters.js';
import { createSandbox, serverHooks, type Sandbox } from './sandbox.js';
import { ensureTracefs } from '../tools/tracefs.js';
import { loadedModules, unloadModulesLoadedDuring } from '../tools/modules.js';
import { inNetns, netnsLabel } from '../tools/netns.js';
import { requireTool } from '../tools/packages.js';
import { run } from '../tools/run.js';
import type { Firewall, IpFamily } from '../tools/firewall.js';
import type { Target } from '../targets/target.js';
import { buildVerdict } from './verdict.js';
import { startTracer } from './tracer.js';
import { callbackHits, chooseProbes, ctSynProgram, LIFECYCLE_PROBES as LIFECYCLE, unconfirmedLife } from './ct-probes.js';
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

export async function traceSyn(target: Target, spec: TraceSynSpec, progress: Progress = () => {}): Promise<TraceSynReport> {
  // Before anything else: the capability probes already run `nft`, which loads nfnetlink.
  const modulesBefore = await loadedModules(target);
  const caps = await probeCapabilities(target);
  if (!caps.root) throw new CapabilityError('trace-syn needs root on the target');
  const bpftrace = await requireTool(target, 'bpftrace');
  await requireTool(target, 'conntrack');
  await requireTool(target, spec.firewall === 'nft' || spec.afterConfirm ? 'nft' : spec.family === 'ipv4' ? 'iptables' : 'ip6tables');
  const python = (await target.which('python3')) ?? '/usr/bin/python3';
  const unavailable: TraceSynReport['unavailable'] = [];
  const kprobes = caps.caps.find((c) => c.id === 'kprobes')!;
  if (!kprobes.available) {
    const why = `${kprobes.detail}: this kernel has no kprobes; ${kprobes.fix}`;
    unavailable.push(
      { observation: 'callbacks', reason: `which netfilter callbacks saw the SYN, and what each returned, needs kprobes on them (${why})` },
      { observation: 'unconfirmed', reason: `allocation, confirmation and free of the unconfirmed entry need kprobes on __nf_conntrack_alloc, __nf_conntrack_confirm and nf_conntrack_free (${why})` },
    );
  }

  return withCleanup(async (cleanup) => {
    await unloadModulesLoadedDuring(target, cleanup, modulesBefore);
    const tracefs = await ensureTracefs(target, cleanup);
    const format = (await target.readFile(`${tracefs}/events/skb/kfree_skb/format`)) ?? '';
    const reasons = parseSymbolicMap(format, 'reason');

    progress(spec.inPlace
      ? "in place: a client netns and veth; the DROP rule goes in this target's own firewall (undone afterwards)"
      : 'creating the sandbox (client and server netns, veth, firewall)');
    const sb = await createSandbox(target, cleanup, spec);

    // The hook listing first: it is evidence, and it names the conntrack
    // callbacks this kernel registered, which are the probe points.
    const hooks = await serverHooks(target, cleanup, sb, spec.family, unavailable, progress);
    let program: string | null = null;
    if (kprobes.available) {
      const probes = await chooseProbes(target, tracefs, hooks, spec.family);
      if (probes.conntrack === 0 || probes.missing.some((m) => LIFECYCLE.includes(m))) {
        unavailable.push({ observation: 'callbacks', reason: `no kprobe-able conntrack callback or lifecycle function (missing: ${probes.missing.join(', ') || 'conntrack callbacks'})` });
      } else {
        program = await ctSynProgram(probes.callbacks);
        if (probes.missing.length) progress(`not probed (not in available_filter_functions): ${probes.missing.join(', ')}`);
      }
    }

    const args = [String(spec.port), sb.serverInode];
    progress(program ? 'attaching kprobes on conntrack and skb:kfree_skb' : 'attaching skb:kfree_skb');
    const { tracer, lines } = await startTracer(
      target, cleanup,
      program ? [bpftrace, '-f', 'json', '-e', program, ...args] : [bpftrace, '-f', 'json', await target.bundled('bpf/kfree_skb_syn.bt'), ...args],
      program ? 'conntrack tracer' : 'kfree_skb tracer',
    );

    progress(`sending ${spec.count} SYN(s) to [${sb.serverAddr}]:${spec.port}`);
    const synArgv = inNetns(sb.client, [python, await target.bundled('scripts/net/syn.py'), sb.serverAddr, String(spec.port), String(spec.count), '300']);
    await run(target, synArgv);
    cleanup.note(`${spec.count} SYN(s) sent to [${sb.serverAddr}]:${spec.port}; tracer lines so far: ${lines.length}`);

    // The drops happen in softirq context before connect() returns; wait until
    // each SYN's drop is in, or two seconds have passed (a SYN not dropped
    // means a broken sandbox, and the report will say no drop was seen).
    // The entry is freed just after the drop's tracepoint: a short grace for it.
    const t0 = Date.now();
    while (lines.filter((l) => l.startsWith('K ')).length < spec.count && Date.now() - t0 < 2000) await sleep(20);
    if (program) await sleep(300);
    const traced = await tracer.stop();
    cleanup.note(`tracer stopped: ${traced.stdout.split('\n').length} lines of output`);
    await captureFixture(program ? 'ct_syn' : 'kfree_skb_syn', caps.kernel,
      `${spec.family}-${spec.firewall}${spec.afterConfirm ? '-after-confirm' : ''}${spec.inPlace ? '-in-place' : ''}-count${spec.count}`,
      { 'stdout.jsonl': traced.stdout }, {
        argv: (program ? ['bpftrace', '-f', 'json', '-e', '<bpf/ct_syn.bt with probes: ' + program.match(/^kprobe:\S+/gm)?.join(' ') + '>', ...args] : traced.argv).join(' '),
        tool: 'bpftrace v0.17.0 (Debian 12)',
        setup: `nfscope trace-syn --port ${spec.port} --family ${spec.family} --firewall ${spec.firewall} --count ${spec.count}${spec.afterConfirm ? ' --after-confirm' : ''}`,
      });
    const events = parseBpftraceJson(traced.stdout);
    const ct0 = program ? parseCtSyn(printfLines(events)) : null;
    const drops = ct0 ? ct0.drops : parseKfreeSkb(printfLines(events)).drops;
    const lost = lostEvents(events);
    if (lost > 0) unavailable.push({ observation: 'lost-events', reason: `bpftrace lost ${lost} event(s): counts may be low` });

    progress('reading the rule counter and the conntrack table');
    const ruleCounter = await readCounter(target, sb, spec.port);
    // The flow from our client only: in place, the table also holds the target's own flows.
    const ctArgv = inNetns(sb.server, ['conntrack', '-L', '-f', spec.family, '-p', 'tcp', '--orig-src', sb.clientAddr, '--orig-port-dst', String(spec.port)]);
    const ct = parseConntrackList((await run(target, ctArgv)).stdout);

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
      verdict: '',
    };
    report.verdict = buildVerdict(report);
    return report;
  }, target);
}

function summariseDrops(
  drops: ReturnType<typeof parseKfreeSkb>['drops'], reasons: Map<number, string>, hooks: HookList[],
  family: IpFamily, ruleCounter: DropObservation['ruleCounter'], dropAt: Sandbox['firewall']['dropAt'],
): DropObservation | null {
  const first = drops[0];
  if (!first) return null;
  const at = hookFromStack(first.stack);
  const evidence: string[] = [];
  if (at.evidence) evidence.push(at.evidence);
  let priority: number | null = null;
  if (at.hook && at.callback) {
    const list = hooks.find((h) => h.family === family && h.hook === at.hook);
    const matches = list?.entries.filter((e) => e.callback === at.callback) ?? [];
    if (matches.length === 1) {
      priority = matches[0]!.priority;
      evidence.push(`hook listing: ${at.callback} is the only entry with that callback at ${family} ${at.hook}, priority ${priority}`);
    } else if (matches.length > 1) {
      // Several chains share the callback: the one whose drop rule counted the packets is the one.
      const counted = ruleCounter && ruleCounter.packets > 0 && dropAt.hook === at.hook && matches.some((m) => m.priority === dropAt.priority);
      if (counted) {
        priority = dropAt.priority;
        evidence.push(`hook listing: ${matches.length} entries of ${at.callback} at ${family} ${at.hook}; the drop rule in ${dropAt.via} (priority ${dropAt.priority}) counted the packets`);
      } else {
        evidence.push(`hook listing: ${matches.length} entries of ${at.callback} at ${family} ${at.hook} (priorities ${matches.map((m) => m.priority).join(', ')}): priority not attributed`);
      }
    }
  }
  if (ruleCounter) evidence.push(`rule counter: ${ruleCounter.rule}: ${ruleCounter.packets} packet(s)`);
  return {
    hook: at.hook,
    priority,
    callback: at.callback,
    reason: reasons.get(first.reasonCode) ?? `unknown (${first.reasonCode})`,
    reasonCode: first.reasonCode,
    location: first.location,
    evidence,
    stack: first.stack,
    count: drops.length,
    ruleCounter,
  };
}
