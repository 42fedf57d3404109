/**
 * Which socket a packet delivered to the local stack went to, among those `ss` listed on its
 * destination port: the connection whose peer is the packet's source, else the listener (a SYN),
 * else the bound UDP socket; on the address it was sent to or on a wildcard. Pure.
 */
import { parseIp, sameIp } from '../model/ip-address.js';
import type { FollowPacket } from '../model/follow.js';
import type { SsSocket } from '../parsers/ss.js';
import { ssEndpoint } from '../parsers/ss.js';

/** `syn`: a TCP SYN without ACK, which goes to a listener (the connection's socket comes after it). */
export interface Delivery { proto: string; src: string; sport: number; dst: string; dport: number; syn: boolean }

const WILDCARD = new Set(['0.0.0.0', '::', '*']);
const sameIpText = (a: string, b: string) => { const x = parseIp(a); return x !== null && sameIp(x, b); };

export function socketFor(d: Delivery, sockets: SsSocket[]): SsSocket | null {
  const mine = sockets.filter((s) => {
    const l = ssEndpoint(s.local);
    return s.proto === d.proto && l.port === d.dport && (WILDCARD.has(l.addr) || sameIpText(l.addr, d.dst));
  });
  const peerIs = (s: SsSocket) => { const p = ssEndpoint(s.peer); return p.port === d.sport && sameIpText(p.addr, d.src); };
  // The exact address before a wildcard: the kernel's own lookup prefers it.
  const exactFirst = (xs: SsSocket[]) => [...xs].sort((a, b) => Number(WILDCARD.has(ssEndpoint(a.local).addr)) - Number(WILDCARD.has(ssEndpoint(b.local).addr)));
  const listener = exactFirst(mine.filter((s) => s.state === 'LISTEN'))[0];
  if (d.syn && listener) return listener;
  return mine.find(peerIs)
    ?? listener
    ?? exactFirst(mine.filter((s) => s.state === 'UNCONN'))[0]
    ?? null;
}

const NAT_RULE = /\b(dnat|snat|redirect|masquerade)\b/;

/**
 * Where a packet went in this host's stack, if it was delivered to it: its protocol and its tuple
 * after NAT. A packet an nf_tables NAT rule rewrote while the callbacks (which see the rewrite)
 * were not observed has no known destination: said, not guessed from the tuple before it.
 */
export function deliveryOf(p: FollowPacket): Delivery | { unknown: string } | null {
  const t = p.tuple;
  if (p.fate.kind !== 'accepted' || (t.proto !== 'tcp' && t.proto !== 'udp') || t.src === null || t.dst === null || t.sport === null || t.dport === null) return null;
  const last = p.nft?.steps.at(-1);
  const local = p.hooks ? p.fate.detail.startsWith('delivered to the local stack') : last?.hook === 'LOCAL_IN';
  if (!local) return null;
  const n = p.nat.at(-1)?.after;
  if (!n && !p.hooks && p.nft?.steps.some((s) => s.rule !== null && NAT_RULE.test(s.rule))) {
    return { unknown: 'a NAT rule rewrote it, and the rewritten address is seen only with the callbacks (kprobes), not here' };
  }
  const syn = t.proto === 'tcp' && t.tcpFlags?.join() === 'syn';
  return { proto: t.proto, src: n?.src ?? t.src, sport: n?.sport ?? t.sport, dst: n?.dst ?? t.dst, dport: n?.dport ?? t.dport, syn };
}
