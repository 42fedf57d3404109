/**
 * follow's filter as bpf/follow_drop.bt and bpf/follow_cb.bt take it: positional parameters
 * after NETNS_INODE ($2 protocol number, $3 port, $4 IPv4 address, $5 ifindex), each 0 for
 * "any". Built from validated values only. Pure.
 */
import type { FollowFilter } from '../model/follow.js';

const PROTO_NUM = { tcp: 6, udp: 17, icmp: 1 } as const;

/** The u32 the programs compare with the IPv4 address as it is in memory (little-endian load). */
export function host4Param(host: string | null): string {
  if (!host) return '0';
  const b = host.split('.').map(Number);
  return String(((b[3]! << 24) >>> 0) + (b[2]! << 16) + (b[1]! << 8) + b[0]!);
}

/** The filter's four parameters; `ifindex`: --iface's index in the netns, 0 any. */
export function followFilterParams(f: FollowFilter, ifindex: number): string[] {
  return [String(f.proto ? PROTO_NUM[f.proto] : 0), String(f.port ?? 0), host4Param(f.host), String(ifindex)];
}
