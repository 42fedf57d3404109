/**
 * IP addresses as follow filters them: parsed to their 4 or 16 bytes, so that two spellings of one
 * IPv6 address (`fd00:0:0::1`, `FD00::1`) are the same address, and written back in one form.
 * Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  bytes: number[];
  /** IPv4 dotted; IPv6 as RFC 5952 writes it (lower case, the longest run of two or more zero groups as ::). */
  text: string;
}

function v6Groups(s: string): number[] {
  // An IPv4 tail (::ffff:192.0.2.1) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    s = `${s.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, null];
  const part = (x: string) => (x === '' ? [] : x.split(':').map((g) => parseInt(g, 16)));
  const h = part(head);
  if (tail === null) return h;
  const t = part(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** RFC 5952 section 4: the first longest run of at least two zero groups is written ::. */
function v6Text(g: number[]): string {
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The address, or null when `s` is not an IPv4 or IPv6 address (no zone, no prefix). */
export function parseIp(s: string): IpAddress | null {
  if (isIPv4(s)) return { family: 4, bytes: s.split('.').map(Number), text: s.split('.').map(Number).join('.') };
  if (!isIPv6(s) || s.includes('%')) return null;
  const g = v6Groups(s.toLowerCase());
  return { family: 6, bytes: g.flatMap((x) => [x >> 8, x & 0xff]), text: v6Text(g) };
}

/** Whether `s` (an address as a tool printed it) is the address `a`; false for anything else, or none. */
export function sameIp(a: IpAddress, s: string | undefined): boolean {
  const b = s === undefined ? null : parseIp(s);
  return b !== null && b.family === a.family && b.bytes.every((x, i) => x === a.bytes[i]);
}
