/**
 * nfscope follow: passive. Follows real packets that match a filter in one
 * netns and builds nothing but the opt-in trace table (--nftrace). Sources,
 * each named in the summary with what it showed or why it could not run:
 * - skb:kfree_skb (bpf/follow_drop.bt): drops with reason, location, stack;
 * - nf_tables' trace (`nft -a monitor` and a `meta nftrace set 1` table of
 *   nfscope's own at priority -2147483647, before every chain it follows);
 * - conntrack events (`conntrack -E`): confirmed entries' NEW/UPDATE/DESTROY;
 * - callbacks and their verdicts (bpf/follow_cb.bt: kprobes on every callback
 *   of the netns's hook listing), where the target has kprobes.
 * Every change (the table, each process) registers its undo first.
 */
import { runRandomBytes } from '../lib/run-random.js';
import { parseIp, sameIp } from '../model/ip-address.js';
import { parseSs, type SsSocket } from '../parsers/ss.js';
import { deliveryOf, socketFor } from '../analysis/socket-owner.js';
import { capabilityGap, toolLine } from '../kernel/capabilities.js';
import { Correlator, ctEvents, FlowSummer } from '../analysis/follow.js';
import { FollowEvents, type FollowSource } from '../analysis/follow-events.js';
import { CapabilityError, CommandFailedError, ParseError } from '../lib/errors.js';
import { RunFailedError } from '../lib/run-failed.js';
import { tryRun } from '../lib/run.js';
import { settle, sleep } from '../lib/time.js';
import { writeReport } from '../lib/safe-write.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { onInterrupt } from '../lib/cleanup.js';
import { FOLLOW_SCHEMA_VERSION, TRACE_PRIORITY, type FollowFilter, type FollowPacket, type FollowSummary, type SocketOwner, type SourceStatus } from '../model/follow.js';
import { failureReason } from '../lib/run-result.js';
import { parseNftChainHooks } from '../parsers/nft-chains-json.js';
import { parseNftJsonCounters } from '../parsers/counters.js';
import { dropReasonNames } from '../kernel/drop-reasons.js';
import type { RawRun, Running, Target } from '../targets/target.js';
import { inNetns, netnsInode, type NetnsRef } from '../tools/netns.js';
import { sessionFor, type Run, type Session } from './session.js';
import { callbackTracerPoints, chooseProbes } from '../kernel/probe-points.js';
import { needsNfConn } from '../programs/adapt.js';
import { followCbProgram, pathsKeptInKernel } from '../programs/follow_cb.js';
import { followDropProgram } from '../programs/follow_drop.js';
import { readTemplate } from '../programs/templates.js';
import type { HookList, IpFamily } from '../model/hooks.js';

export interface FollowSpec {
  filter: FollowFilter;
  ns: NetnsRef;
  count: number | null;
  durationS: number | null;
  nftrace: boolean;
  readyFile: string | null;
  /** --iface's index in the netns (resolved by the command: an unknown device is bad input), 0 any. */
  ifindex: number;
  /** --every-packet: one record per hook pass, as before paths were kept in the kernel. */
  everyPacket: boolean;
  /** --ct-events: conntrack -E also while paths are kept in the kernel. */
  ctEvents: boolean;
}

/** Paths kept in the kernel, or one record per hook pass, and why. */
export function followMode(spec: Pick<FollowSpec, 'everyPacket' | 'nftrace'>): { mode: 'paths' | 'every-packet'; why: string } {
  if (spec.everyPacket) return { mode: 'every-packet', why: '--every-packet: one record per hook pass' };
  // nf_tables traces every packet (a netlink message each): its packets are joined to their passes.
  if (spec.nftrace) return { mode: 'every-packet', why: '--nftrace traces every packet, so every packet\'s passes are printed to join its trace' };
  return { mode: 'paths', why: 'the default: a path is printed the first time it is taken and whenever a hook ends in anything but ACCEPT; its repeats are counted in the kernel (--every-packet prints each)' };
}

/**
 * A packet is shown once no source has said more of it for this long. Its events happen within
 * microseconds, but each source's output reaches follow on its own pipe: under qemu TCG one
 * tracer's lines came more than 0.5 s after another's for the same packet (Debian 6.12).
 */
const SETTLE_S = 1.5;

/** The nft rule bodies of the trace chain: one per (port side, host side), from validated values only. */
export function traceRules(f: FollowFilter, dir: 'in' | 'out'): string[][] {
  const l4 = f.proto ? ['meta', 'l4proto', f.proto] : f.port !== null ? ['meta', 'l4proto', '{', 'tcp,', 'udp', '}'] : [];
  const ports = f.port !== null ? [['th', 'sport', String(f.port)], ['th', 'dport', String(f.port)]] : [[]];
  const ip = f.host === null ? null : parseIp(f.host)?.family === 6 ? 'ip6' : 'ip';
  const hosts = f.host !== null ? [[ip!, 'saddr', f.host], [ip!, 'daddr', f.host]] : [[]];
  const iface = f.iface !== null ? [dir === 'in' ? 'iifname' : 'oifname', f.iface] : [];
  const out: string[][] = [];
  // counter: what the kernel traced, to compare with what nft monitor delivered (lost messages).
  for (const p of ports) for (const h of hosts) out.push([...iface, ...l4, ...h, ...p, 'counter', 'meta', 'nftrace', 'set', '1']);
  return out;
}

export interface FollowHandlers {
  progress: (m: string) => void;
  packet: (p: FollowPacket) => void;
}

/** Why a source's run ended, in one line: a program given with -e is shown by its size. */
function sourceFailure(x: RawRun): string {
  return failureReason({ ...x, argv: x.argv.map((a) => (a.length > 120 || a.includes('\n') ? `<${a.length} chars>` : a)) });
}

/** A source's line, stamped once: kept for a capture, and given to the events. */
type Feed = (src: FollowSource) => (line: string) => void;

export async function follow(on: Target | Session, spec: FollowSpec, h: FollowHandlers): Promise<FollowSummary> {
  const session = await sessionFor(on, 'follow');
  return session.run((r) => followIn(r, session, spec, h));
}

/**
 * The nf_tables trace (--nftrace): `nft -a monitor`, then a table of nfscope's own whose base
 * chains (prerouting, output) set nftrace on matching packets. Returns the table and, through
 * `changed`, says when the ruleset changes (a chain's hook may be new). Undo registered first.
 */
async function startNftTrace(r: Run, spec: FollowSpec, nft: string, feed: Feed, changed: () => void): Promise<{ table: string; mon: Running }> {
  const { target, cleanup } = r;
  const table = `nfscope_follow${[...runRandomBytes(6)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`;
  const mon = target.spawn(inNetns(spec.ns, [nft, '-a', 'monitor']), { stream: true });
  await cleanup.adopt('stop nft monitor', async () => { await mon.stop(2000); }, mon.pid ? { kill: { pid: mon.pid, comm: 'nft' } } : undefined);
  let listening: () => void = () => {};
  const heard = new Promise<void>((res) => { listening = res; });
  const toEvents = feed('nft');
  mon.onLine((line) => {
    if (line.startsWith(`add chain inet ${table} ready`)) listening();
    if (/^(add|delete) (table|chain) /.test(line)) changed();
    toEvents(line);
  });
  // Bare `nft` in the journal: the shape `nfscope cleanup` replays (lib/undo-allowlist.ts).
  cleanup.undoWith(`nft delete table inet ${table}`, target, [{ argv: inNetns(spec.ns, ['nft', 'delete', 'table', 'inet', table]) }]);
  const add = async (argv: string[]) => {
    const x = await cleanup.making(`nft ${argv.join(' ')}`, () => target.exec(inNetns(spec.ns, [nft, ...argv]), { timeoutMs: 30_000 }));
    if (x.exitCode !== 0) throw new CommandFailedError([nft, ...argv], x.exitCode, x.stderr);
  };
  // nft monitor prints no READY: it is listening once it reports a change of ours. A change made
  // before it subscribed is never reported (seen: 1 run in 6 under load), so poke until it is.
  await add(['add', 'table', 'inet', table]);
  for (let i = 0; ; i++) {
    await add(['add', 'chain', 'inet', table, 'ready']);
    const ok = await Promise.race([heard.then(() => true), sleep(250).then(() => false)]);
    await add(['delete', 'chain', 'inet', table, 'ready']);
    if (ok) break;
    if (i === 40) throw new CommandFailedError(['nft', '-a', 'monitor'], null, '', 'nft monitor reported none of the trace table\'s changes within 10 s');
  }
  // The chains and rules in one nft run, one transaction (commands apart by `;`, which nft's own
  // parser splits, as it does a file): six runs took 3 s under qemu TCG (Debian 6.12).
  const commands = [
    ['add', 'chain', 'inet', table, 'pre', `{ type filter hook prerouting priority ${TRACE_PRIORITY}; }`],
    ['add', 'chain', 'inet', table, 'out', `{ type filter hook output priority ${TRACE_PRIORITY}; }`],
    ...traceRules(spec.filter, 'in').map((rule) => ['add', 'rule', 'inet', table, 'pre', ...rule]),
    ...traceRules(spec.filter, 'out').map((rule) => ['add', 'rule', 'inet', table, 'out', ...rule]),
  ];
  await add(commands.flatMap((c, i) => (i ? [';', ...c] : c)));
  return { table, mon };
}

/** Packets the trace table's rules counted (what nf_tables traced), or why they could not be read. */
async function tracedCount(target: Target, spec: FollowSpec, nft: string, table: string): Promise<number | { why: string }> {
  const j = await tryRun(target, inNetns(spec.ns, [nft, '-j', 'list', 'table', 'inet', table]));
  if (!j.ok) return { why: j.reason };
  return [...parseNftJsonCounters(j.stdout, 'pre'), ...parseNftJsonCounters(j.stdout, 'out')].reduce((n, c) => n + c.packets, 0);
}

/**
 * The callback tracer: kprobes on every ipv4/ipv6 callback of the netns's hook listing. Returns it
 * with the listing, or why it cannot run here.
 */
async function startCallbackTracer(
  r: Run, session: Session, spec: FollowSpec, inode: string, feed: Feed, progress: (m: string) => void, paths: boolean,
): Promise<{ tracer: Running; listing: HookList[]; callbacks: string[] } | { why: string }> {
  const kp = session.cap('kprobes');
  const gap = capabilityGap(kp);
  if (gap !== null) return { why: `needs kprobes on every callback of the hook listing: ${gap}` };
  const families: IpFamily[] = ['ipv4', 'ipv6'];
  progress('listing the hooks of the namespace');
  const listing = (await r.hooks(spec.ns, families, progress)).hooks;
  const tried = await Promise.all(families.map((fam) => chooseProbes(r.target, r.tracefs, listing, fam)));
  const chosen = [];
  for (const c of tried) {
    if ('failure' in c) return { why: c.failure };
    chosen.push(c);
  }
  const callbacks = [...new Set(chosen.flatMap((c) => c.callbacks))];
  if (!callbacks.length) return { why: 'the namespace has no netfilter callback registered for ipv4 or ipv6 (nothing to probe)' };
  // A callback counts only when nf_hook_slow itself called it (its return address lies in
  // nf_hook_slow): nf_nat_ipv6_in calls nf_nat_ipv6_fn, LOCAL_IN's callback, from inside
  // (Debian 6.1), and that call must not take the next callback's slot.
  const points = await callbackTracerPoints(r.target, r.tracefs);
  if ('failure' in points) return { why: points.failure };
  const { span, queue } = points;
  if (span === null) return { why: 'nf_hook_slow\'s address is not in /proc/kallsyms (kptr_restrict?): its own calls of a callback cannot be told from calls inside a callback' };
  const filled = followCbProgram(await readTemplate('follow_cb'), { callbacks, queue, inode, filter: spec.filter, ifindex: spec.ifindex, span });
  const program = paths ? { ...filled, text: pathsKeptInKernel(filled.text) } : filled;
  const noType = needsNfConn(program.text, await session.bpfShape(r.tracefs));
  if (noType) return { why: `the callback tracer reads struct nf_conn's status: ${noType}` };
  progress(`attaching kprobes on ${callbacks.length} callback(s) and nf_hook_slow: ${callbacks.join(', ')}`);
  const argv = await r.tracerArgv(await session.bpftrace(), await r.adapted(program));
  const { tracer } = await r.tracer(argv, 'callback tracer', { stream: true });
  tracer.onLine(feed('callbacks'));
  return { tracer, listing, callbacks };
}

async function followIn(r: Run, session: Session, spec: FollowSpec, h: FollowHandlers): Promise<FollowSummary> {
  const { target, tracefs } = r;
  const kernel = session.caps.kernel;
  const f = spec.filter;
  // conntrack prints an address its own way: compared by value, not by text.
  const host = f.host === null ? null : parseIp(f.host);
  const sources: SourceStatus[] = [];
  const unavailable: { observation: string; reason: string }[] = [];
  const inode = await netnsInode(target, spec.ns);
  const drops = await dropReasonNames(target, tracefs);
  if (drops.why) unavailable.push({ observation: 'drop-reason-names', reason: drops.why });
  const reasons = drops.names;

  const mode = followMode(spec);
  const events = new FollowEvents(mode.mode === 'paths');
  /** Every source that runs for the whole of follow, watched: one that ends before follow stops it is reported at once. */
  const live: { name: SourceStatus['name']; run: Running; makesPackets: boolean }[] = [];
  /** Every line each source printed, with when follow got it: NFSCOPE_CAPTURE_DIR keeps them as a fixture. */
  const raw: { t: number; src: string; line: string }[] = [];
  const capturing = !!process.env.NFSCOPE_CAPTURE_DIR;
  const packetsOut: FollowPacket[] = [];
  let t0 = Date.now();
  const now = () => (Date.now() - t0) / 1000;
  const feed: Feed = (src) => (line) => {
    const t = now();
    if (capturing) raw.push({ t, src, line });
    events.add(src, t, line);
  };

  // The listing server compiles while the drop tracer does (two compiles at once: under qemu TCG
  // each takes most of follow's start); the callback tracer needs its listing (step 4).
  if (capabilityGap(session.cap('kprobes')) === null) r.warmHooks(h.progress);

  // 1. skb:kfree_skb, filtered in the kernel. Started here, awaited once the callback tracer is
  // started too: each bpftrace compile is one thread, and one after the other they were most of
  // follow's start (Debian 6.12 under qemu TCG, 2 vCPUs: drop tracer 17 s, listing server 11 s,
  // callback tracer 23 s alone; ready after 96 s in sequence).
  const bpftrace = await session.bpftrace();
  const program = await r.bundledProgram('follow_drop', followDropProgram(await readTemplate('follow_drop'), { inode, filter: spec.filter, ifindex: spec.ifindex }));
  h.progress('attaching skb:kfree_skb (bpf/follow_drop.bt)');
  const dropStarted = settle(r.tracerArgv(bpftrace, program).then((argv) => r.tracer(argv, 'drop tracer', { stream: true })));

  // 2. nf_tables' trace.
  let table: string | null = null;
  let rulesetChanged = true;
  const nft = await target.which('nft');
  if (!spec.nftrace) {
    const why = 'off: tracing rules needs a `meta nftrace set 1` rule in the namespace\'s ruleset; pass --nftrace to let follow add its own table (removed at the end)';
    sources.push({ name: 'nftrace', available: false, detail: why });
    unavailable.push({ observation: 'nf_tables rule verdicts', reason: why });
  } else if (!nft) {
    throw new CapabilityError('--nftrace needs nft (apt-get install nftables / dnf install nftables)');
  } else {
    const started = await startNftTrace(r, spec, nft, feed, () => { rulesetChanged = true; });
    table = started.table;
    live.push({ name: 'nftrace', run: started.mon, makesPackets: true });
    sources.push({ name: 'nftrace', available: true, detail: `rule verdicts of every nf_tables chain (iptables-nft included), traced by table inet ${table} at priority ${TRACE_PRIORITY}` });
  }

  // 3. Callbacks and their verdicts.
  const cb = await startCallbackTracer(r, session, spec, inode, feed, h.progress, mode.mode === 'paths');
  if ('why' in cb) {
    sources.push({ name: 'callbacks', available: false, detail: cb.why });
    unavailable.push({ observation: 'each callback\'s verdict and conntrack\'s view after its callbacks', reason: cb.why });
  } else {
    live.push({ name: 'callbacks', run: cb.tracer, makesPackets: true });
    events.probed = new Set(cb.callbacks);
    sources.push({ name: 'callbacks', available: true, detail: `every callback of the hook listing (${cb.callbacks.length}: a kprobe each; the verdict that ended a hook from nf_hook_slow's return), its verdict, conntrack's view and the tuple after it; ${mode.mode === 'paths' ? 'paths kept in the kernel' : 'every packet'}` });
  }

  // Paths are kept in the kernel: the mode asks for it and the callback tracer runs.
  const pathsOn = mode.mode === 'paths' && !('why' in cb);

  // 4. conntrack events (confirmed entries only: an unconfirmed entry makes no event). Where paths
  // are kept in the kernel, off unless asked for: a listener makes ctnetlink build a message per
  // state change of every connection, and under TCG a connect loop kept 0.30-0.39 of its rate with
  // `conntrack -E` alone (scripts/bench/follow-parts.mjs, Debian 6.1), less than the paths tracer
  // alone keeps; the callbacks give conntrack's view per path instead.
  const ct = await target.which('conntrack');
  if (pathsOn && !spec.ctEvents) {
    sources.push({ name: 'conntrack-events', available: false, detail: 'off while paths are kept in the kernel (a message per state change of every connection costs what paths save): --ct-events turns it on; conntrack\'s view per path comes from the callbacks' });
  } else if (ct) {
    // -p is filtered in the kernel (a socket filter conntrack-tools attaches); ports and the host in follow.
    const ev = target.spawn(inNetns(spec.ns, [ct, '-E', '-o', 'timestamp,id', ...(f.proto ? ['-p', f.proto] : [])]), { stream: true });
    await r.cleanup.adopt('stop conntrack -E', async () => { await ev.stop(2000); }, ev.pid ? { kill: { pid: ev.pid, comm: 'conntrack' } } : undefined);
    live.push({ name: 'conntrack-events', run: ev, makesPackets: false });
    ev.onLine(feed('conntrack'));
    sources.push({ name: 'conntrack-events', available: true, detail: 'NEW, UPDATE and DESTROY of confirmed entries (conntrack -E); an entry that dies unconfirmed makes no event' });
  } else {
    sources.push({ name: 'conntrack-events', available: false, detail: 'conntrack is not installed (apt-get install conntrack / dnf install conntrack-tools)' });
  }

  const drop = await dropStarted;
  if (!drop.ok) throw drop.error;
  drop.value.tracer.onLine(feed('kfree_skb'));
  live.push({ name: 'kfree_skb', run: drop.value.tracer, makesPackets: true });
  sources.unshift({ name: 'kfree_skb', available: true, detail: 'drops with reason, location and stack (skb:kfree_skb, filtered in the kernel)' });

  // Give conntrack -E a moment to subscribe (it prints nothing until an event).
  await sleep(300);
  // Packets the trace rules counted before follow was ready are not follow's to report.
  const tracedBefore = table && nft ? await tracedCount(target, spec, nft, table) : 0;
  // Ready: from here every event goes to the correlator (and to a capture); before, the lines
  // were the set-up's own (the trace table's ruleset events).
  t0 = Date.now();
  const readyUnix = t0 / 1000;
  // A packet's hook comes from the base chain it was traced in: read again when nft monitor
  // reports a table or chain added or deleted (a chain added while following gets its hook).
  const hooks = new Map<string, string>();
  const listing = 'why' in cb ? null : cb.listing;
  const traceChain = table ? { family: 'inet', table, chain: 'pre' } : null;
  const corr = new Correlator({ chainHooks: hooks, traceChain, reasons, listing, withCallbacks: !('why' in cb), paths: pathsOn });
  const summer = new FlowSummer();
  // conntrack's events go to their flows as they come (-p was filtered by conntrack; ports and the
  // host here); none is kept by line.
  events.attach(corr, (raw) => {
    const [e] = ctEvents([raw], readyUnix);
    const o = e!.original;
    if (f.port !== null && o.sport !== String(f.port) && o.dport !== String(f.port)) return;
    // conntrack writes addresses as the filter does (RFC 5952) but for IPv4-mapped ones: text first.
    if (host !== null && o.src !== host.text && o.dst !== host.text && !sameIp(host, o.src) && !sameIp(host, o.dst)) return;
    summer.conntrack(e!);
  });
  // A source that ends before follow stops it: said at once, with its reason. The run goes on
  // with the others while one that reports packets is left (conntrack's events alone are not
  // packets); with none left it ends, and says so (with --count it would wait for ever).
  let stopping = false;
  let sourcesGone = false;
  const ended = new Map<string, { atS: number; reason: string; then: string }>();
  for (const s of live) {
    void s.run.done.then((x) => {
      if (stopping) return;
      const left = live.filter((o) => o !== s && o.makesPackets && !ended.has(o.name));
      const then = left.length ? `follow went on without it (with ${left.map((o) => o.name).join(', ')})` : 'follow ended: no source of packets was left';
      if (!left.length) sourcesGone = true;
      const reason = sourceFailure(x);
      ended.set(s.name, { atS: Math.round(now() * 1000) / 1000, reason: `ended while following: ${reason}`, then });
      h.progress(`source ${s.name} ended while following: ${reason}; ${then}`);
    });
  }
  raw.length = 0;
  const refreshHooks = async () => {
    if (!rulesetChanged || !nft) return;
    rulesetChanged = false;
    // A failed listing is not "no chain": the packets' chains would be misattributed.
    const listed = await tryRun(target, inNetns(spec.ns, [nft, '-j', 'list', 'chains']));
    if (!listed.ok) throw new RunFailedError(listed.failure, listed.reason, 'the chains\' hooks could not be read again after the ruleset changed');
    const m = parseNftChainHooks(listed.stdout);
    hooks.clear();
    for (const [k, v] of m) hooks.set(k, v);
  };
  await refreshHooks();
  if (spec.readyFile) await writeReport(spec.readyFile, `${process.pid}\n`);
  h.progress(`following${spec.count ? ` ${spec.count} packet(s)` : ''}${spec.durationS ? ` for at most ${spec.durationS} s` : ''}: ready`);
  let shown = 0;
  let interrupted = false;
  // A packet delivered here: the socket it went to, from ss in the netns, asked once a port a
  // second and for at most SS_PORTS ports a second (ss -p walks every process's fds; a busy port
  // must not run it at every 100 ms tick).
  const SS_PORTS = 16;
  const sockets = new Map<number, Promise<{ list: SsSocket[]; atS: number } | { why: string }>>();
  let socketsSince = 0;
  const socketsOn = (port: number): Promise<{ list: SsSocket[]; atS: number } | { why: string }> | null => {
    let got = sockets.get(port);
    if (!got) {
      if (sockets.size >= SS_PORTS) return null;
      const atS = Math.round(now() * 1000) / 1000;
      got = tryRun(target, inNetns(spec.ns, ['ss', '-H', '-n', '-p', '-t', '-u', '-a', 'sport', '=', `:${port}`]), { timeoutMs: 10_000 }).then((r) => {
        if (!r.ok) return { why: `ss failed: ${failureReason(r.failure)}` };
        try {
          return { list: parseSs(r.stdout), atS };
        } catch (e) {
          // Output ss is not known to print: said, not read as "no socket".
          if (e instanceof ParseError) return { why: `ss printed what nfscope does not read: ${e.message}` };
          throw e;
        }
      });
      sockets.set(port, got);
    }
    return got;
  };
  const ownerOf = async (p: FollowPacket): Promise<SocketOwner | null> => {
    const d = deliveryOf(p);
    if (d === null) return null;
    if ('unknown' in d) return { found: false, why: d.unknown };
    if (interrupted) return { found: false, why: 'not looked up: follow was interrupted' };
    const asked = socketsOn(d.dport);
    if (!asked) return { found: false, why: `not looked up: more than ${SS_PORTS} ports in one second` };
    const got = await asked;
    if ('why' in got) return { found: false, why: got.why };
    const m = socketFor(d, got.list);
    if (!m) return { found: false, why: `no ${d.proto} socket on port ${d.dport} took it when ss looked (+${got.atS.toFixed(3)}s): closed since, or none` };
    const processes = [...new Map(m.sockets.flatMap((s) => s.users).map((u) => [u.pid, { comm: u.comm, pid: u.pid }])).values()];
    return { found: true, sockets: m.sockets.map((s) => `${s.proto} ${s.state} ${s.local} ${s.peer}`), processes, atS: got.atS, note: m.note };
  };
  const emit = async (settle: number, final = false) => {
    if (now() - socketsSince >= 1) { sockets.clear(); socketsSince = now(); }
    // An H record's S record comes right after it, or was lost: bounded wait.
    events.releaseStale(now() - SETTLE_S / 2);
    for (const p of corr.take(now(), settle, final)) {
      if (spec.count !== null && shown >= spec.count) break;
      shown++;
      p.socket = await ownerOf(p);
      summer.add(p);
      if (capturing) packetsOut.push(p);
      h.packet(p);
    }
  };
  const deadline = spec.durationS !== null ? spec.durationS : Infinity;
  onInterrupt(() => { interrupted = true; });
  try {
    while (!interrupted && !sourcesGone && now() < deadline && (spec.count === null || shown < spec.count)) {
      await sleep(100);
      await refreshHooks();
      await emit(SETTLE_S);
    }
  } finally {
    onInterrupt(null);
  }
  await sleep(200);
  const durationS = now();
  stopping = true;
  // The drop tracer prints @more_drops as it exits: its line reaches the events before done resolves.
  const stopped = await drop.value.tracer.stop(5000);
  let pathCounts: Map<string, number> | null = null;
  if (!('why' in cb)) {
    const cbStopped = await cb.tracer.stop(5000);
    events.flushHeld();
    // No END record: the kernel's counts of the passes it did not print are unknown, never 0.
    if (events.pathsEndSeen) pathCounts = events.pathCounts;
    else if (mode.mode === 'paths') unavailable.push({ observation: 'how many packets took each path (the callback tracer\'s @pn)', reason: `the callback tracer did not reach its END: ${sourceFailure(cbStopped)}` });
  }
  // No END record (bpftrace killed after the grace, or dead before): the count is unknown, never 0.
  const more = events.moreDropsSeen ? events.moreDrops : null;
  if (more === null) unavailable.push({ observation: 'the number of drops past the first 64 detailed (@more_drops)', reason: `the drop tracer did not reach its END: ${sourceFailure(stopped)}` });
  await refreshHooks();
  await emit(0, true);
  // nf_tables traced this many packets (the trace rules' counters); nft monitor delivered nftPackets.
  // Netlink drops trace messages a listener does not read fast enough: the difference is lost.
  const traced = table && nft ? await tracedCount(target, spec, nft, table) : 0;
  const countsUnread = [tracedBefore, traced].find((c) => typeof c !== 'number');
  if (countsUnread) unavailable.push({ observation: 'traced packets whose nf_tables trace never arrived (the trace rules\' counters)', reason: countsUnread.why });
  const lostNft = typeof tracedBefore === 'number' && typeof traced === 'number' ? Math.max(0, traced - corr.nftPackets - tracedBefore) : null;
  await captureFixture('follow', kernel, 'run', {
    'events.jsonl': raw.map((x) => JSON.stringify(x)).join('\n') + '\n',
    'context.json': JSON.stringify({ readyUnix, traceChain, chainHooks: [...hooks], reasons: [...reasons], listing, filter: f, paths: pathsOn, probed: 'why' in cb ? null : cb.callbacks }, null, 2) + '\n',
    'packets.jsonl': packetsOut.map((p) => JSON.stringify(p)).join('\n') + '\n',
  }, { argv: `nfscope follow ${JSON.stringify(f)}`, tool: () => toolLine(target, ['bpftrace', 'nft', 'conntrack']), setup: 'see NFSCOPE_CAPTURE_SETUP' });
  // Lines too long to be a tool's output, which the transport let go: counted with the malformed.
  const asEventSource = { kfree_skb: 'kfree_skb', nftrace: 'nft', 'conntrack-events': 'conntrack', callbacks: 'callbacks' } as const;
  for (const s of live) {
    // Only a source already gone is asked: nft monitor and conntrack -E are stopped by the cleanup, after the summary.
    const d = ended.has(s.name) || s.name === 'kfree_skb' || s.name === 'callbacks' ? (await s.run.done).dropped : undefined;
    if (d?.overlongLines) events.overlong(asEventSource[s.name], d.overlongLines);
  }
  for (const st of sources) {
    const e = ended.get(st.name);
    if (e) st.ended = e;
  }
  return {
    schemaVersion: FOLLOW_SCHEMA_VERSION, type: 'summary', kernel, target: target.name, filter: f, sources,
    packets: shown, durationS: Math.round(durationS * 1000) / 1000,
    lost: { ...events.lost, nftrace: lostNft, dropsNotDetailed: more }, flows: summer.flows,
    paths: 'why' in cb ? { mode: mode.mode, why: `${mode.why}; no callback tracer ran (${cb.why})`, countedPasses: null, list: [], notKept: 0, countsUnknown: null }
      : corr.paths(mode.mode, mode.why, pathCounts, [
        ...(events.lost.callbacks ? [`${events.lost.callbacks} callback event(s) lost`] : []),
        ...(events.unmarked ? [`${events.unmarked} hook record(s) whose S record never came`] : []),
        ...(events.unshown ? [`${events.unshown} hook record(s) that named no probed callback that began`] : []),
      ]),
    notKept: { ...summer.notKept }, malformed: events.malformed, unavailable,
  };
}
