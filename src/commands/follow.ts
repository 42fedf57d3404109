import { resolveTarget } from './auto-target.js';
import { PassThroughExit, UsageError } from '../lib/errors.js';
import { parseIp } from '../model/ip-address.js';
import { DEFAULT_KERNEL } from '../lib/kernel-spec.js';
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
  everyPacket?: boolean;
  ctEvents?: boolean;
  readyFile?: string;
  color: string;
  target?: string;
  kernel?: string;
  json?: boolean;
  diff?: string[];
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
    // --proto icmp is IPv4's ICMP (protocol 1): with an IPv6 host it could match nothing.
    if (a.family === 6 && proto === 'icmp') throw new UsageError(`--proto icmp is IPv4's ICMP, and --host ${a.text} is IPv6: ICMPv6 is not a --proto choice yet (leave --proto out)`);
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
  return { filter, count, durationS, nftrace: o.nftrace === true, everyPacket: o.everyPacket === true, ctEvents: o.ctEvents === true, readyFile, color: useColor };
}

/** Output queued for a reader that has not read it yet, past which packets are counted only. */
const OUTPUT_QUEUE_CAP = 16 << 20;

/** Options that say how to follow live: meaningless with --diff, which reads two saved runs. */
const LIVE_ONLY: [keyof FollowOptions, string][] = [
  ['port', '--port'], ['proto', '--proto'], ['host', '--host'], ['netns', '--netns'], ['iface', '--iface'], ['count', '--count'],
  ['duration', '--duration'], ['nftrace', '--nftrace'], ['everyPacket', '--every-packet'], ['ctEvents', '--ct-events'], ['readyFile', '--ready-file'],
];

/** --diff A B: two saved `follow --json` runs, path by path; exit 1 when a kind of packet differs. */
async function runFollowDiff(o: FollowOptions, files: string[]): Promise<void> {
  if (files.length !== 2) throw new UsageError(`--diff takes two saved runs (\`nfscope follow --json\` output), not ${files.length}`);
  // --target and --kernel have defaults (cli.ts): only another value is the user's.
  const given = [...LIVE_ONLY.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag),
    ...(o.target !== undefined && o.target !== 'local' ? ['--target'] : []), ...(o.kernel !== undefined && o.kernel !== DEFAULT_KERNEL ? ['--kernel'] : [])];
  if (given.length) throw new UsageError(`${given.join(', ')}: for following live; --diff compares two saved runs`);
  // Checked as everywhere; the diff is plain text, nothing is coloured yet.
  choiceOption('--color', o.color, ['auto', 'always', 'never']);
  const { checkInput, forEachLine } = await import('../lib/input-file.js');
  for (const f of files) await checkInput(f);
  if (files[0] === '-' && files[1] === '-') throw new UsageError('--diff: standard input can be one of the two runs, not both');
  const { parseFollowLine } = await import('../parsers/follow-ndjson.js');
  const { compareRuns, RunTally } = await import('../analysis/follow-diff.js');
  const read = async (file: string) => {
    const t = new RunTally();
    const what = `follow run ${file}`;
    await forEachLine(file, what, (line, n) => {
      const r = parseFollowLine(line, what, n);
      if (r?.type === 'packet') t.add(r);
      else if (r) t.summary = r;
    });
    if (!t.packets && !t.summary) throw new UsageError(`${file}: no follow record in it (\`nfscope follow --json\` writes one a packet, then a summary)`);
    return t;
  };
  const [a, b] = [await read(files[0]!), await read(files[1]!)];
  const report = compareRuns(a, files[0]!, b, files[1]!);
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write((await import('../render/follow-diff.js')).renderFollowDiff(report) + '\n');
  if (report.kinds.some((k) => k.verdict !== 'same')) throw new PassThroughExit(1);
}

export async function runFollow(o: FollowOptions): Promise<void> {
  if (o.diff !== undefined) return runFollowDiff(o, o.diff);
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
