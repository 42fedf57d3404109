/**
 * Which socket a packet delivered to the local stack went to, among those `ss` listed on its
 * destination port after NAT: a SYN to the listeners, another TCP packet to the connection from
 * its source, a UDP datagram to the socket connected to its source, else the bound ones. Of the
 * bound ones the most specific address wins (the address it was sent to before a wildcard), as the
 * kernel's lookup does; several of the same (SO_REUSEPORT) are all named, the kernel's choice among
 * them not being observable. Pure.
 */
import type { FollowPacket } from '../model/follow.js';
import { equalIp, parseIp, unmapV4, type IpAddress } from '../model/ip-address.js';
import { ssEndpoint, type SsSocket } from '../parsers/ss.js';

/** `syn`: SYN without ACK (null: the flags were not seen). */
export interface Delivery { proto: 'tcp' | 'udp'; src: string; sport: number; dst: string; dport: number; syn: boolean | null }

/** How a socket's local address takes a destination: 2 exactly, 1 as its family's wildcard or ss's `*` (both families), 0 not. */
function takes(local: string, dst: IpAddress): number {
  if (local === '*') return 1;
  const a = unmapV4(parseIp(local));
  if (!a) return 0;
  if (a.bytes.every((b) => b === 0)) return a.family === dst.family ? 1 : 0;
  return equalIp(a, dst) ? 2 : 0;
}

export function socketFor(d: Delivery, sockets: SsSocket[]): { sockets: SsSocket[]; note: string | null } | null {
  const dst = unmapV4(parseIp(d.dst));
  const src = unmapV4(parseIp(d.src));
  if (!dst || !src) return null;
  const onPort = sockets.map((s) => ({ s, l: ssEndpoint(s.local), p: ssEndpoint(s.peer) })).filter((x) => x.s.proto === d.proto && x.l.port === d.dport);
  const fromSrc = onPort.filter((x) => x.p.port === d.sport && equalIp(unmapV4(parseIp(x.p.addr)), src) && takes(x.l.addr, dst) > 0).map((x) => x.s);
  const bound = (state: string) => {
    const c = onPort.filter((x) => x.s.state === state).map((x) => ({ s: x.s, k: takes(x.l.addr, dst) })).filter((x) => x.k > 0);
    const best = Math.max(0, ...c.map((x) => x.k));
    return c.filter((x) => x.k === best).map((x) => x.s);
  };
  const several = (xs: SsSocket[]) => (xs.length > 1 ? `${xs.length} sockets share the port (SO_REUSEPORT): which one the kernel chose is not observable` : null);
  if (d.proto === 'udp') {
    if (fromSrc.length) return { sockets: fromSrc, note: several(fromSrc) };
    const u = bound('UNCONN');
    return u.length ? { sockets: u, note: several(u) } : null;
  }
  if (d.syn) {
    const l = bound('LISTEN');
    return l.length ? { sockets: l, note: several(l) } : null;
  }
  if (fromSrc.length) return { sockets: fromSrc, note: several(fromSrc) };
  if (d.syn === null) {
    const l = bound('LISTEN');
    if (l.length) return { sockets: l, note: `its TCP flags were not seen, and no connection from its source is there: the listener${l.length > 1 ? 's' : ''} on the port` };
  }
  return null;
}

/**
 * Where a packet went in this host's stack, if it was delivered to it: its protocol and its tuple
 * after NAT, which only the callbacks see (NAT's callbacks rewrite every packet of a flow; the nat
 * chains, which nft traces, run for its first one only). Without them: not observable, said.
 */
export function deliveryOf(p: FollowPacket): Delivery | { unknown: string } | null {
  const t = p.tuple;
  if (p.fate.kind !== 'accepted' || (t.proto !== 'tcp' && t.proto !== 'udp') || t.src === null || t.dst === null || t.sport === null || t.dport === null) return null;
  if (p.fate.hook !== 'LOCAL_IN') return null;
  if (!p.hooks) {
    return { unknown: 'which socket took it needs its tuple after NAT, which only the callbacks show (kprobes); not observable here' };
  }
  const n = p.nat.at(-1)?.after;
  const syn = t.tcpFlags === null ? null : t.tcpFlags.includes('syn') && !t.tcpFlags.includes('ack');
  return { proto: t.proto, src: n?.src ?? t.src, sport: n?.sport ?? t.sport, dst: n?.dst ?? t.dst, dport: n?.dport ?? t.dport, syn: t.proto === 'tcp' ? syn : false };
}
