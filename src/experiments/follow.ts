/**
 * nfscope follow: passive. Follows real packets that match a filter in one
 * netns and builds nothing but the opt-in trace table (--nftrace). Sources,
 * each named in the summary with what it showed or why it could not run:
 * - skb:kfree_skb (bpf/follow_drop.bt): drops with reason, location, stack;
 * - nf_tables' trace (`nft -a monitor` and a `meta nftrace set 1` table of
 *   nfscope's own at priority -2147483647, before every chain it follows);
 * - conntrack events (`conntrack -E`): confirmed entries' NEW/UPDATE/DESTROY;
 * - callback-level verdicts: not built in follow yet (trace-syn has them for
 *   a SYN of its own), so reported as not observable with that reason.
 * Every change (the table, each process) registers its undo first.
 */
import { randomBytes } from 'node:crypto';
import { Correlator, ctEvents, FlowSummer } from '../analysis/follow.js';
import { FollowEvents } from '../analysis/follow-events.js';
import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';
import { writeReport } from '../lib/safe-write.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { onInterrupt } from '../lib/cleanup.js';
import { FOLLOW_SCHEMA_VERSION, type FollowFilter, type FollowPacket, type FollowSummary, type SourceStatus } from '../model/follow.js';
import { parseBpftraceJsonLine } from '../parsers/bpftrace-json.js';
import { parseConntrackEvents } from '../parsers/conntrack-events.js';
import { parseNftChainHooks } from '../parsers/nft-chains-json.js';
import { parseNftJsonCounters } from '../parsers/counters.js';
import { parseSymbolicMap } from '../parsers/tracepoint-format.js';
import type { Target } from '../targets/target.js';
import { inNetns, NETNS_DIR, type NetnsRef } from '../tools/netns.js';
import { sessionFor, type Run, type Session } from './session.js';
import { chooseProbes, fillCallbackProbes } from './ct-probes.js';
import { needsNfConn } from '../kernel/bpf-shape.js';
import type { HookList, IpFamily } from '../model/hooks.js';

export interface FollowSpec {
  filter: FollowFilter;
  ns: NetnsRef;
  count: number | null;
  durationS: number | null;
  nftrace: boolean;
  readyFile: string | null;
}

const PROTO_NUM = { tcp: 6, udp: 17, icmp: 1 } as const;
/** Before every chain follow watches: NF_IP_PRI_FIRST is INT_MIN; one above it. */
const TRACE_PRIORITY = -2147483647;
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
  const hosts = f.host !== null ? [['ip', 'saddr', f.host], ['ip', 'daddr', f.host]] : [[]];
  const iface = f.iface !== null ? [dir === 'in' ? 'iifname' : 'oifname', f.iface] : [];
  const out: string[][] = [];
  // counter: what the kernel traced, to compare with what nft monitor delivered (lost messages).
  for (const p of ports) for (const h of hosts) out.push([...iface, ...l4, ...h, ...p, 'counter', 'meta', 'nftrace', 'set', '1']);
  return out;
}

/** The u32 bpf/follow_drop.bt compares with the IPv4 address as it is in memory (little-endian load). */
export function host4Param(host: string | null): string {
  if (!host) return '0';
  const b = host.split('.').map(Number);
  return String(((b[3]! << 24) >>> 0) + (b[2]! << 16) + (b[1]! << 8) + b[0]!);
}

export interface FollowHandlers {
  progress: (m: string) => void;
  packet: (p: FollowPacket) => void;
}

export async function follow(on: Target | Session, spec: FollowSpec, h: FollowHandlers): Promise<FollowSummary> {
  const session = await sessionFor(on, 'follow');
  const { target, caps } = session;
  return session.run((r) => followIn(r, session, spec, h, caps.kernel, target));
}

async function followIn(r: Run, session: Session, spec: FollowSpec, h: FollowHandlers, kernel: string, target: Target): Promise<FollowSummary> {
  const { cleanup, tracefs } = r;
  const f = spec.filter;
  const sources: SourceStatus[] = [];
  const unavailable: { observation: string; reason: string }[] = [];
  const inode = (await target.exec(['stat', '-L', '-c', '%i', spec.ns.kind === 'named' ? `${NETNS_DIR}/${spec.ns.name}` : '/proc/self/ns/net'])).stdout.trim();
  if (!/^\d+$/.test(inode)) throw new CommandFailedError(['stat', '-L', '-c', '%i'], 1, `no netns inode for ${spec.filter.netns}`);
  // --iface: the device's index in the netns, for the tracers' in-kernel filter (0: any).
  let ifindex = '0';
  if (f.iface !== null) {
    const l = await target.exec(inNetns(spec.ns, ['ip', '-o', 'link', 'show', 'dev', f.iface]));
    const m = /^(\d+):/.exec(l.stdout);
    if (l.exitCode !== 0 || !m) throw new CapabilityError(`no interface ${f.iface} in netns ${f.netns}`);
    ifindex = m[1]!;
  }
  const reasons = parseSymbolicMap((await target.readFile(`${tracefs}/events/skb/kfree_skb/format`)) ?? '', 'reason');

  const events = new FollowEvents();
  /** Every line each source printed, with when follow got it: NFSCOPE_CAPTURE_DIR keeps them as a fixture. */
  const raw: { t: number; src: string; line: string }[] = [];
  const capturing = !!process.env.NFSCOPE_CAPTURE_DIR;
  const packetsOut: FollowPacket[] = [];
  let t0 = Date.now();
  let readyUnix = Date.now() / 1000;
  const now = () => (Date.now() - t0) / 1000;

  // 1. skb:kfree_skb, filtered in the kernel.
  const bpftrace = await session.bpftrace();
  const program = await r.bundledProgram('bpf/follow_drop.bt');
  const dropArgv = [...bpftrace, '-f', 'json', ...program, inode, String(f.proto ? PROTO_NUM[f.proto] : 0), String(f.port ?? 0), host4Param(f.host), ifindex];
  h.progress('attaching skb:kfree_skb (bpf/follow_drop.bt)');
  const { tracer } = await r.tracer(dropArgv, 'drop tracer');
  let cbTracer: { stop: (ms?: number) => Promise<unknown> } | null = null;
  tracer.onLine((line) => { const t = now(); if (capturing) raw.push({ t, src: 'kfree_skb', line }); events.add('kfree_skb', t, line); });
  sources.push({ name: 'kfree_skb', available: true, detail: 'drops with reason, location and stack (skb:kfree_skb, filtered in the kernel)' });

  // 2. nf_tables' trace.
  let traceChain: { family: string; table: string; chain: string } | null = null;
  const nft = await target.which('nft');
  if (!spec.nftrace) {
    const why = 'off: tracing rules needs a `meta nftrace set 1` rule in the namespace\'s ruleset; pass --nftrace to let follow add its own table (removed at the end)';
    sources.push({ name: 'nftrace', available: false, detail: why });
    unavailable.push({ observation: 'nf_tables rule verdicts', reason: why });
  } else if (!nft) {
    throw new CapabilityError('--nftrace needs nft (apt-get install nftables / dnf install nftables)');
  } else {
    const table = `nfscope_follow${[...randomBytes(6)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`;
    const mon = target.spawn(inNetns(spec.ns, [nft, '-a', 'monitor']));
    cleanup.push('stop nft monitor', async () => { await mon.stop(2000); }, mon.pid ? { kill: { pid: mon.pid, comm: 'nft' } } : undefined);
    let listening: () => void = () => {};
    const heard = new Promise<void>((res) => { listening = res; });
    mon.onLine((line) => {
      const t = now();
      if (capturing) raw.push({ t, src: 'nft', line });
      if (line.startsWith(`add chain inet ${table} ready`)) listening();
      try {
        events.add('nft', t, line);
      } catch { /* a line nft prints that is no trace record of a shape nfscope knows: never guessed at */ }
    });
    // Bare `nft` in the journal: the shape `nfscope cleanup` replays (lib/undo-allowlist.ts).
    cleanup.undoWith(`nft delete table inet ${table}`, target, [{ argv: inNetns(spec.ns, ['nft', 'delete', 'table', 'inet', table]) }]);
    const add = async (argv: string[]) => {
      const x = await target.exec(inNetns(spec.ns, [nft, ...argv]));
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
    await add(['add', 'chain', 'inet', table, 'pre', `{ type filter hook prerouting priority ${TRACE_PRIORITY}; }`]);
    await add(['add', 'chain', 'inet', table, 'out', `{ type filter hook output priority ${TRACE_PRIORITY}; }`]);
    for (const rule of traceRules(f, 'in')) await add(['add', 'rule', 'inet', table, 'pre', ...rule]);
    for (const rule of traceRules(f, 'out')) await add(['add', 'rule', 'inet', table, 'out', ...rule]);
    traceChain = { family: 'inet', table, chain: 'pre' };
    sources.push({ name: 'nftrace', available: true, detail: `rule verdicts of every nf_tables chain (iptables-nft included), traced by table inet ${table} at priority ${TRACE_PRIORITY}` });
  }
  // Chains' hooks: a packet's hook comes from the base chain it was traced in.
  const chainHooks = async () => (nft ? parseNftChainHooks((await target.exec(inNetns(spec.ns, [nft, '-j', 'list', 'chains']))).stdout) : new Map<string, string>());
  const outChain = (m: Map<string, string>) => { if (traceChain) m.set(`inet ${traceChain.table} out`, 'LOCAL_OUT'); return m; };

  // 3. conntrack events (confirmed entries only: an unconfirmed entry makes no event).
  const ct = await target.which('conntrack');
  if (ct) {
    // -p is filtered in the kernel (a socket filter conntrack-tools attaches); ports and the host in follow.
    const ev = target.spawn(inNetns(spec.ns, [ct, '-E', '-o', 'timestamp,id', ...(f.proto ? ['-p', f.proto] : [])]));
    cleanup.push('stop conntrack -E', async () => { await ev.stop(2000); }, ev.pid ? { kill: { pid: ev.pid, comm: 'conntrack' } } : undefined);
    ev.onLine((l) => { const t = now(); if (capturing) raw.push({ t, src: 'conntrack', line: l }); events.add('conntrack', t, l); });
    sources.push({ name: 'conntrack-events', available: true, detail: 'NEW, UPDATE and DESTROY of confirmed entries (conntrack -E); an entry that dies unconfirmed makes no event' });
  } else {
    sources.push({ name: 'conntrack-events', available: false, detail: 'conntrack is not installed (apt-get install conntrack / dnf install conntrack-tools)' });
  }

  // 4. Callbacks and their verdicts: kprobes on every callback of the netns's hook listing.
  const kp = session.cap('kprobes');
  let listing: HookList[] | null = null;
  let cbWhy: string | null = null;
  if (!kp.available) {
    cbWhy = `needs kprobes on every callback of the hook listing, and this kernel has none (${kp.detail}); --target qemu has them`;
  } else {
    const families: IpFamily[] = ['ipv4', 'ipv6'];
    h.progress('listing the hooks of the namespace');
    listing = (await r.hooks(spec.ns, families, h.progress)).hooks;
    const chosen = await Promise.all(families.map((fam) => chooseProbes(target, tracefs, listing!, fam)));
    const callbacks = [...new Set(chosen.flatMap((c) => c.callbacks))];
    const text = callbacks.length ? await fillCallbackProbes('bpf/follow_cb.bt', callbacks) : null;
    const noType = text ? needsNfConn(text, await session.bpfShape(tracefs)) : null;
    if (!text) cbWhy = 'the namespace has no netfilter callback registered for ipv4 or ipv6 (nothing to probe)';
    else if (noType) cbWhy = `the callback tracer reads struct nf_conn's status: ${noType}`;
    else {
      h.progress(`attaching kprobes on ${callbacks.length} callback(s): ${callbacks.join(', ')}`);
      const cbArgv = [...bpftrace, '-f', 'json', '-e', await r.program(text), inode, String(f.proto ? PROTO_NUM[f.proto] : 0), String(f.port ?? 0), host4Param(f.host), ifindex];
      const { tracer: cbt } = await r.tracer(cbArgv, 'callback tracer');
      cbTracer = cbt;
      cbt.onLine((line) => { const t = now(); if (capturing) raw.push({ t, src: 'callbacks', line }); events.add('callbacks', t, line); });
      sources.push({ name: 'callbacks', available: true, detail: `every callback of the hook listing (${callbacks.length}: kprobe and kretprobe), its verdict, conntrack's view and the tuple after it` });
    }
  }
  if (cbWhy) {
    sources.push({ name: 'callbacks', available: false, detail: cbWhy });
    unavailable.push({ observation: 'each callback\'s verdict and conntrack\'s view after its callbacks', reason: cbWhy });
  }

  // Give conntrack -E a moment to subscribe (it prints nothing until an event).
  await sleep(300);
  t0 = Date.now();
  readyUnix = t0 / 1000;
  events.clear(); // ours: the table's own ruleset events, and nothing seen before every probe was attached
  // Packets the trace rules counted before follow was ready are not follow's to report.
  let nftBefore = 0;
  if (traceChain && nft) {
    const j = await target.exec(inNetns(spec.ns, [nft, '-j', 'list', 'table', 'inet', traceChain.table]));
    if (j.exitCode === 0) nftBefore = [...parseNftJsonCounters(j.stdout, 'pre'), ...parseNftJsonCounters(j.stdout, 'out')].reduce((n, c) => n + c.packets, 0);
  }
  raw.length = 0;
  if (spec.readyFile) await writeReport(spec.readyFile, `${process.pid}\n`);
  h.progress(`following${spec.count ? ` ${spec.count} packet(s)` : ''}${spec.durationS ? ` for at most ${spec.durationS} s` : ''}: ready`);

  const hooks = new Map<string, string>();
  const refreshHooks = async () => {
    const m = outChain(await chainHooks());
    hooks.clear();
    for (const [k, v] of m) hooks.set(k, v);
  };
  await refreshHooks();
  const corr = new Correlator({ chainHooks: hooks, traceChain, reasons, listing, withCallbacks: cbTracer !== null });
  events.attach(corr);
  const summer = new FlowSummer();
  let shown = 0;
  const emit = (settle: number, final = false) => {
    for (const p of corr.take(now(), settle, final)) {
      if (spec.count !== null && shown >= spec.count) break;
      shown++;
      summer.add(p);
      if (capturing) packetsOut.push(p);
      h.packet(p);
    }
  };
  const deadline = spec.durationS !== null ? spec.durationS : Infinity;
  let refreshed = 0;
  let interrupted = false;
  onInterrupt(() => { interrupted = true; });
  try {
    while (!interrupted && now() < deadline && (spec.count === null || shown < spec.count)) {
      await sleep(100);
    // A chain added while following gets its hook on the next refresh.
      if (now() - refreshed > 2) { await refreshHooks(); refreshed = now(); }
      emit(SETTLE_S);
    }
  } finally {
    onInterrupt(null);
  }
  await sleep(200);
  const durationS = now();
  const out = await tracer.stop(5000);
  if (cbTracer) await cbTracer.stop(5000);
  const more = Object.values((out.stdout.split('\n').map((l, i) => parseBpftraceJsonLine(l, i + 1)).find((e) => e?.type === 'map' && '@more_drops' in (e.data as object))?.data as Record<string, Record<string, number>> | undefined)?.['@more_drops'] ?? {}).reduce((a, b) => a + b, 0);
  await refreshHooks();
  emit(0, true);
  // nf_tables traced this many packets (the trace rules' counters); nft monitor delivered nftPackets.
  // Netlink drops trace messages a listener does not read fast enough: the difference is lost.
  let lostNft = 0;
  if (traceChain && nft) {
    const j = await target.exec(inNetns(spec.ns, [nft, '-j', 'list', 'table', 'inet', traceChain.table]));
    if (j.exitCode === 0) {
      const traced = [...parseNftJsonCounters(j.stdout, 'pre'), ...parseNftJsonCounters(j.stdout, 'out')].reduce((n, c) => n + c.packets, 0);
      lostNft = Math.max(0, traced - corr.nftPackets - nftBefore);
    }
  }
  const ctev = ctEvents(parseConntrackEvents(events.conntrack.join('\n')), readyUnix).filter((e) => {
    const o = e.original;
    if (f.port !== null && o.sport !== String(f.port) && o.dport !== String(f.port)) return false;
    if (f.host !== null && o.src !== f.host && o.dst !== f.host) return false;
    return true;
  });
  await captureFixture('follow', kernel, 'run', {
    'events.jsonl': raw.map((x) => JSON.stringify(x)).join('\n') + '\n',
    'context.json': JSON.stringify({ readyUnix, traceChain, chainHooks: [...hooks], reasons: [...reasons], listing, filter: f }, null, 2) + '\n',
    'packets.jsonl': packetsOut.map((p) => JSON.stringify(p)).join('\n') + '\n',
  }, { argv: `nfscope follow ${JSON.stringify(f)}`, tool: session.caps.tools.filter((x) => ['bpftrace', 'nft', 'conntrack'].includes(x.name)).map((x) => `${x.name} ${x.version ?? '?'}`).join(' / '), setup: 'see NFSCOPE_CAPTURE_SETUP' });
  return {
    schemaVersion: FOLLOW_SCHEMA_VERSION, type: 'summary', kernel, target: target.name, filter: f, sources,
    packets: shown, durationS: Math.round(durationS * 1000) / 1000,
    lost: { ...events.lost, nftrace: lostNft, dropsNotDetailed: more }, flows: (ctev.forEach((e) => summer.conntrack(e)), summer.flows), unavailable,
  };
}
