import { resolveTarget } from './auto-target.js';
import { UsageError } from '../lib/errors.js';
import { parseIp } from '../lib/ip-address.js';
import { checkReportTarget } from '../lib/safe-write.js';
import { choiceOption, intOption } from '../lib/validate.js';
import type { FollowFilter, FollowPacket, FollowProto } from '../model/follow.js';
import { withTarget } from '../targets/index.js';
import { ifindexIn, parseNetnsArg, resolveNetns } from '../tools/netns.js';
import { requireRoot } from '../tools/root.js';
import type { FollowSpec } from '../experiments/follow.js';

export interface FollowOptions {
  port?: string;
  proto?: string;
  host?: string;
  netns?: string;
  iface?: string;
  count?: string;
  duration?: string;
  nftrace?: boolean;
  readyFile?: string;
  color: string;
  target?: string;
  kernel?: string;
  json?: boolean;
}

/** Interface names as the kernel allows them (IFNAMSIZ 16), without what nft would parse as syntax. */
const IFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Every option checked before a target opens (exit 2). */
export async function parseFollowOptions(o: FollowOptions): Promise<Omit<FollowSpec, 'ns' | 'ifindex'> & { color: boolean }> {
  const port = o.port === undefined ? null : intOption('--port', o.port, 1, 65535);
  const proto = o.proto === undefined ? null : choiceOption<FollowProto>('--proto', o.proto, ['tcp', 'udp', 'icmp']);
  if (proto === 'icmp' && port !== null) throw new UsageError('--port does not apply to --proto icmp');
  let host: string | null = null;
  if (o.host !== undefined) {
    const a = parseIp(o.host);
    if (a === null) throw new UsageError(`invalid --host ${JSON.stringify(o.host.slice(0, 60))}: expected an IPv4 or IPv6 address`);
    // The programs read an all-zero filter as "any host".
    if (a.bytes.every((b) => b === 0)) throw new UsageError(`--host ${o.host}: the unspecified address is no packet's source or destination`);
    host = a.text;
  }
  if (o.netns !== undefined) parseNetnsArg(o.netns);
  if (o.iface !== undefined && !IFACE.test(o.iface)) throw new UsageError(`invalid --iface ${JSON.stringify(o.iface.slice(0, 60))}: expected an interface name`);
  const count = o.count === undefined ? null : intOption('--count', o.count, 1, 1_000_000);
  let durationS = o.duration === undefined ? null : intOption('--duration', o.duration, 1, 86_400);
  if (count === null && durationS === null) durationS = 60;
  const color = choiceOption('--color', o.color, ['auto', 'always', 'never']);
  const readyFile = o.readyFile === undefined ? null : (await checkReportTarget(o.readyFile), o.readyFile);
  const useColor = color === 'always' || (color === 'auto' && !o.json && process.stdout.isTTY === true && !process.env.NO_COLOR);
  const filter: FollowFilter = { proto, port, host, netns: o.netns ?? '(current)', iface: o.iface ?? null };
  return { filter, count, durationS, nftrace: o.nftrace === true, readyFile, color: useColor };
}

/** Output queued for a reader that has not read it yet, past which packets are counted only. */
const OUTPUT_QUEUE_CAP = 16 << 20;

export async function runFollow(o: FollowOptions): Promise<void> {
  const opts = await parseFollowOptions(o);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const { follow } = await import('../experiments/follow.js');
  const { renderPacket, renderFollowSummary } = await import('../render/follow.js');
  const write = (s: string) => process.stdout.write(s);
  // A reader that does not keep up (a paused pager, a slow pipe) would have Node queue every packet
  // in memory: past OUTPUT_QUEUE_CAP of queued output a packet is counted, not printed.
  let notPrinted = 0;
  const onPacket = (p: FollowPacket) => {
    if (process.stdout.writableLength > OUTPUT_QUEUE_CAP) { notPrinted++; return; }
    write(o.json ? JSON.stringify(p) + '\n' : renderPacket(p, opts.color) + '\n');
  };
  const summary = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (target) => {
    await requireRoot(target);
    const ns = await resolveNetns(target, o.netns);
    // Checked before anything runs: an unknown device is bad input (exit 2).
    const ifindex = opts.filter.iface === null ? 0 : await ifindexIn(target, ns, opts.filter.iface);
    return follow(target, { ...opts, ns, ifindex }, { progress, packet: onPacket });
  });
  summary.notKept.notPrinted = notPrinted;
  write(o.json ? JSON.stringify(summary) + '\n' : renderFollowSummary(summary, opts.color) + '\n');
}
