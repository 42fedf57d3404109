import { capabilityGap } from '../kernel/capabilities.js';
import { kfreeSkbSynProgram } from '../programs/kfree_skb_syn.js';
import { earlyEndReason } from '../tools/tracer.js';
import { readTemplate } from '../programs/templates.js';
import { UsageError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';
import { captureFixture } from '../lib/fixture-capture.js';
import type { HookList } from '../model/hooks.js';
import { findPath } from '../model/call-tree.js';
import { ALLOC_PATH, GRAPH_SCHEMA_VERSION, type CallGraphObservation, type GraphReport } from '../model/graph.js';
import { parseFunctionGraph } from '../parsers/function-graph.js';
import { kstackTree, parseKstackJson } from '../parsers/kstack.js';
import { lostEvents, parseBpftraceJson, printfLines } from '../parsers/bpftrace-json.js';
import { parseKfreeSkb } from '../parsers/kfree-skb.js';
import { acquireGraphTracer, availableFunctions, openGraphSession, type GraphSession, type GraphTracer } from '../tools/ftrace.js';
import { inNetns } from '../tools/netns.js';
import { run } from '../lib/run.js';
import type { Firewall, IpFamily } from '../tools/firewall.js';
import type { Target } from '../targets/target.js';
import { CONNTRACK_BUILTIN, CORE, FREE_PATH, cutAtRoots, defaultRoots, dropStackSource, graphFilter } from '../analysis/graph.js';
import { sessionFor, type Run, type Session } from './session.js';

export interface GraphSpec {
  port: number;
  family: IpFamily;
  firewall: Firewall;
  /** User-chosen roots (validated names); default: PRE_ROUTING conntrack callbacks and the skb free path. */
  roots?: string[];
}

/** A function_graph session around the packet, rooted where the hook listing says. */
export interface CallGraph {
  roots: string[];
  filter: string[];
  fg: GraphSession;
  /** After the packet: the trees cut at the roots, the allocation path in them, the parser's counts. */
  collect(kernel: string, fixture: string, setup: string): Promise<CallGraphObservation>;
}

/**
 * The tracer function_graph will use, taken before the sandbox and the hook listing: a busy
 * global tracer is refused before anything is built or attached. null, with the reason in
 * unavailable, where the kernel has no function_graph.
 */
export async function acquireCallGraph(r: Run, unavailable: { observation: string; reason: string }[]): Promise<GraphTracer | null> {
  const gap = capabilityGap(r.session.cap('function_graph'));
  if (gap !== null) {
    unavailable.push({ observation: 'call-graph', reason: `the call tree needs the function_graph tracer: ${gap}` });
    return null;
  }
  return acquireGraphTracer(r.target, r.cleanup, r.tracefs);
}

/**
 * Opens function_graph on the roots (user-chosen, or the PRE_ROUTING conntrack
 * callbacks and the skb free path), on the tracer acquireCallGraph took. Read after
 * the sandbox: its conntrack rule loaded nf_conntrack, whose functions only then appear.
 */
export async function openCallGraph(
  r: Run, tracer: GraphTracer, hooks: HookList[], family: IpFamily, userRoots: string[] | undefined, progress: (m: string) => void,
): Promise<CallGraph> {
  // Only the lines the choice below can use: the names it looks for, conntrack's module, and
  // conntrack's functions where it is built in.
  const hookFns = hooks.flatMap((h) => h.entries.map((e) => e.callback));
  const have = await availableFunctions(r.target, r.tracefs, {
    names: [...(userRoots ?? []), ...hookFns, 'nf_conntrack_in', ...FREE_PATH, ...CORE],
    patterns: [CONNTRACK_BUILTIN.source, '\\[nf_conntrack\\]'],
  });
  if (userRoots) {
    const missing = userRoots.filter((x) => !have.has(x));
    if (missing.length) throw new UsageError(`--root: not a traceable function on this kernel (not in available_filter_functions): ${missing.join(', ')}`);
  }
  const roots = userRoots ?? defaultRoots(hooks, family, have);
  const filter = graphFilter(roots, have);
  progress(`function_graph on ${roots.join(', ')} (${filter.length} filter entries)`);
  const fg = await openGraphSession(r.target, r.cleanup, tracer, filter);
  return {
    roots, filter, fg,
    async collect(kernel, fixture, setup) {
      const text = await fg.read();
      const parsed = parseFunctionGraph(text);
      await captureFixture('function_graph', kernel, fixture, { 'trace.txt': text }, {
        argv: `cat ${fg.dir}/trace`,
        tool: `tracefs function_graph (${fg.instance ? 'instance' : 'global tracer'}), options funcgraph-proc funcgraph-cpu funcgraph-duration; set_ftrace_pid = the SYN sender (pinned to one CPU) and that CPU's ksoftirqd`,
        set_ftrace_filter: filter,
        setup,
      });
      const callTrees = cutAtRoots(parsed.roots, roots);
      const path = findPath(callTrees.map((t) => t.tree), ALLOC_PATH);
      return {
        roots, tracer: { instance: fg.instance, filterFunctions: filter.length, pidFiltered: true },
        callTrees, allocPath: path ? path.map((n) => n.fn) : null, stats: parsed.stats,
      };
    },
  };
}

export async function graph(on: Target | Session, spec: GraphSpec, progress: (m: string) => void = () => {}): Promise<GraphReport> {
  const session = await sessionFor(on, 'graph');
  const { target, caps } = session;
  const bpftrace = await session.bpftrace();
  await session.tool(spec.firewall === 'nft' ? 'nft' : spec.family === 'ipv4' ? 'iptables' : 'ip6tables');
  const python = await session.python();
  const unavailable: GraphReport['unavailable'] = [];

  return session.run(async (r) => {
    const fgTracer = await acquireCallGraph(r, unavailable);
    progress('creating the sandbox (client and server netns, veth, firewall)');
    const sb = await r.sandbox({ family: spec.family, port: spec.port, firewall: spec.firewall, afterConfirm: false });
    const hooks = await r.serverHooks(sb, spec.family, unavailable, progress);
    const cg = fgTracer ? await openCallGraph(r, fgTracer, hooks, spec.family, spec.roots, progress) : null;

    progress('attaching skb:kfree_skb for the drop stacks');
    const program = kfreeSkbSynProgram(await readTemplate('kfree_skb_syn'), { port: spec.port, serverInode: sb.serverInode });
    const { tracer, endedEarly } = await r.tracer(await r.tracerArgv(bpftrace, await r.bundledProgram('kfree_skb_syn', program)), 'kfree_skb tracer');

    progress(`sending a SYN to [${sb.serverAddr}]:${spec.port}`);
    await cg?.fg.start();
    const syn = [python, await target.bundled('payload/net/syn.py'), sb.serverAddr, String(spec.port), '1', '300'];
    if (cg) syn.push(cg.fg.pidFile);
    await run(target, inNetns(sb.client, syn));
    await cg?.fg.stop();
    r.cleanup.note(`SYN sent to [${sb.serverAddr}]:${spec.port}${cg ? '; function_graph stopped' : ''}`);
    await sleep(200);
    // bpftrace prints its maps (@stacks, kstack-keyed: symbolised at exit) only after SIGINT. Under
    // qemu TCG on a loaded machine that took more than the default 3 s grace, and the SIGKILL that
    // followed left dropStacks null (issue 11: graph.vm on 6.12). The stop is bounded all the same.
    const traced = await tracer.stop(20_000);

    const tree = cg ? await cg.collect(caps.kernel, `syn-${spec.family}-${spec.firewall}`, `nfscope graph --port ${spec.port} --family ${spec.family} --firewall ${spec.firewall}`) : null;

    const events = parseBpftraceJson(traced.stdout);
    const stacks = parseKstackJson(traced.stdout).filter((s) => s.map === '@stacks');
    const drops = parseKfreeSkb(printfLines(events)).drops;
    const lost = lostEvents(events);
    if (lost > 0) unavailable.push({ observation: 'lost-events', reason: `bpftrace lost ${lost} event(s)` });
    // A tracer gone before its stop did not watch the whole run: no drop seen is then no answer.
    const early = endedEarly();
    if (early) unavailable.push({ observation: 'drop', reason: `the kfree_skb tracer ${earlyEndReason(early)}: a drop after that was not watched` });
    else if (drops.length === 0) unavailable.push({ observation: 'drop', reason: 'no drop of the SYN was seen (skb:kfree_skb)' });
    const dropStacks = dropStackSource(stacks, drops);
    if (drops.length && dropStacks.length === 0) {
      unavailable.push({ observation: 'drop-stacks', reason: `bpftrace ended without printing its @stacks map (exit ${traced.exitCode ?? traced.signal}${traced.signal === 'SIGKILL' ? ': killed after 20 s of grace' : ''})` });
    }

    return {
      schemaVersion: GRAPH_SCHEMA_VERSION,
      kernel: caps.kernel,
      target: target.name,
      family: spec.family,
      port: spec.port,
      firewall: spec.firewall,
      roots: tree?.roots ?? spec.roots ?? [],
      tracer: tree?.tracer ?? null,
      callTrees: tree?.callTrees ?? [],
      allocPath: tree?.allocPath ?? null,
      stats: tree?.stats ?? null,
      dropStacks: dropStacks.length ? { total: dropStacks.reduce((s, k) => s + k.count, 0), tree: kstackTree(dropStacks) } : null,
      unavailable,
    };
  });
}
