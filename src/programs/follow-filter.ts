/**
 * follow's filter as bpf/follow_drop.bt and bpf/follow_cb.bt take it: positional parameters
 * after NETNS_INODE ($2 protocol number, $3 port, $4 IPv4 address, $5 ifindex, $6-$9 an IPv6
 * address), each 0 for "any". Built from validated values only. Pure.
 */
import { parseIp } from '../model/ip-address.js';
import type { FollowFilter } from '../model/follow.js';

const PROTO_NUM = { tcp: 6, udp: 17, icmp: 1 } as const;

/** The u32 a program reads at `bytes[at]` on a little-endian machine (x86-64: the targets). */
const le32 = (b: number[], at: number) => String(((b[at + 3]! << 24) >>> 0) + (b[at + 2]! << 16) + (b[at + 1]! << 8) + b[at]!);

/**
 * --host as the programs compare it: HOST4 the IPv4 address as one u32, H6 the IPv6 address as
 * four (its bytes 0-3, 4-7, 8-11, 12-15), each loaded as memory holds it. The other family's words
 * are 0: an IPv4 --host takes no IPv6 packet, and the other way round.
 */
function hostParams(host: string | null): { host4: string; host6: string[] } {
  const a = host === null ? null : parseIp(host);
  if (host !== null && a === null) throw new Error(`follow filter: ${JSON.stringify(host)} is not an address (validated before?)`);
  if (a === null) return { host4: '0', host6: ['0', '0', '0', '0'] };
  if (a.family === 4) return { host4: le32(a.bytes, 0), host6: ['0', '0', '0', '0'] };
  return { host4: '0', host6: [0, 4, 8, 12].map((at) => le32(a.bytes, at)) };
}

/** The filter's eight parameters; `ifindex`: --iface's index in the netns, 0 any. */
export function followFilterParams(f: FollowFilter, ifindex: number): string[] {
  const h = hostParams(f.host);
  return [String(f.proto ? PROTO_NUM[f.proto] : 0), String(f.port ?? 0), h.host4, String(ifindex), ...h.host6];
}
