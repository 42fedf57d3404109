/**
 * IP addresses as follow filters them: parsed to their 4 or 16 bytes, so that two spellings of one
 * IPv6 address (`fd00:0:0::1`, `FD00::1`) are the same address, and written back in one form
 * (RFC 5952's; glibc's inet_ntop writes an IPv4-mapped one dotted, ::ffff:1.2.3.4, this
 * ::ffff:102:304: compare with sameIp, never by text). Pure.
 */

export interface IpAddress {
  family: 4 | 6;
  bytes: number[];
  /** IPv4 dotted; IPv6 as RFC 5952 writes it (lower case, the longest run of two or more zero groups as ::). */
  text: string;
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const GROUP = /^[0-9a-f]{1,4}$/;

/** The eight 16-bit groups of an IPv6 address (lower case, no zone), or null if it is not one. */
function v6Groups(s: string): number[] | null {
  // An IPv4 tail (::ffff:192.0.2.1) becomes two groups.
  const tail = /^(.*:)([^:]*\.[^:]*)$/.exec(s);
  if (tail) {
    if (!V4.test(tail[2]!)) return null;
    const b = tail[2]!.split('.').map(Number);
    s = `${tail[1]}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const part = (x: string) => (x === '' ? [] : x.split(':'));
  const head = part(halves[0]!);
  const rest = halves.length === 2 ? part(halves[1]!) : null;
  if (![...head, ...(rest ?? [])].every((g) => GROUP.test(g))) return null;
  const hex = (g: string) => parseInt(g, 16);
  if (rest === null) return head.length === 8 ? head.map(hex) : null;
  // "::" stands for one zero group or more.
  if (head.length + rest.length > 7) return null;
  return [...head.map(hex), ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest.map(hex)];
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
  if (V4.test(s)) return { family: 4, bytes: s.split('.').map(Number), text: s };
  const g = s.length <= 45 ? v6Groups(s.toLowerCase()) : null;
  if (!g) return null;
  return { family: 6, bytes: g.flatMap((x) => [x >> 8, x & 0xff]), text: v6Text(g) };
}

/** The same address: same family, same bytes. */
export function equalIp(a: IpAddress | null, b: IpAddress | null): boolean {
  return !!a && !!b && a.family === b.family && a.bytes.every((x, i) => x === b.bytes[i]);
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d, a dual-stack socket's view of an IPv4 peer) as the IPv4 one; any other as it is. */
export function unmapV4(a: IpAddress | null): IpAddress | null {
  if (!a || a.family !== 6 || !a.bytes.slice(0, 10).every((b) => b === 0) || a.bytes[10] !== 0xff || a.bytes[11] !== 0xff) return a;
  const b = a.bytes.slice(12);
  return { family: 4, bytes: b, text: b.join('.') };
}

/** Whether `s` (an address as a tool printed it) is the address `a`; false for anything else, or none. */
export function sameIp(a: IpAddress, s: string | undefined): boolean {
  return s !== undefined && equalIp(a, parseIp(s));
}
