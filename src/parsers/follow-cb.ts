/**
 * bpf/follow_cb.bt's printf records → callback calls and returns. Pure.
 *   H <nsecs> <skb> <what> <ret> <n> <in0..3> <out0..3> <inports> <outports> 12 × (<callback> <word> <addr>)
 *     one record per hook pass (the current script), expanded here into the C and R records below;
 *   C <nsecs> <skb> <pf> <hooknum> <callback> <src> <dst> <sport> <dport>
 *   R <nsecs> <skb> <callback> <verdict> <ctinfo> <status> <src> <dst> <sport> <dport>
 *     one per callback call and return (the script before 2026-12-01; captured runs still hold them).
 */
import { ParseError } from '../lib/errors.js';

export interface CbCall {
  kind: 'C'; nsecs: number; skb: string; pf: number; hooknum: number; callback: string;
  /** The IP protocol number, where the record says it (H records; not C records). */
  proto?: number;
  /** The tuple when the callback was called (null from an older capture that printed - -). */
  tuple: { src: string; dst: string; sport: number; dport: number } | null;
  sport: number; dport: number;
}
export interface CbReturn {
  kind: 'R'; nsecs: number; skb: string; callback: string; verdict: number;
  /** 0-4, 7 untracked, 8 no entry, 9 unknown (the skb may be gone after a non-ACCEPT). */
  ctinfo: number; status: number;
  tuple: { src: string; dst: string; sport: number; dport: number } | null;
}
export type CbRecord = CbCall | CbReturn;

type Tuple = NonNullable<CbCall['tuple']>;

/** Slots a hook record carries (bpf/follow_cb.bt): callbacks past them are counted, not kept. */
export const HOOK_SLOTS = 12;
const HEX = '[0-9a-f]+';
const H = new RegExp(`^H (\\d+) (${HEX}) (${HEX}) (-?\\d+) (\\d+) ${Array(10).fill(`(${HEX})`).join(' ')}((?: \\S+ ${HEX} ${HEX}){${HOOK_SLOTS}})$`);
const M64 = (1n << 64n) - 1n;

/** An IPv4 address from the u32 a little-endian load of its bytes gives. */
function ip4(v: bigint): string {
  return [0n, 8n, 16n, 24n].map((s) => String((v >> s) & 0xffn)).join('.');
}

/** An IPv6 address from the two little-endian u64 loads of its 16 bytes (compressed as inet_ntop does). */
function ip6(lo: bigint, hi: bigint): string {
  const bytes = [lo, hi].flatMap((w) => [0n, 8n, 16n, 24n, 32n, 40n, 48n, 56n].map((s) => Number((w >> s) & 0xffn)));
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1, len = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > len && j - i >= 2) { best = i; len = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + len).join(':')}`;
}

/** The fold bpf/follow_cb.bt keeps of an IPv6 packet's addresses after each callback. */
export function fold6(w: bigint[]): bigint {
  return (w[0]! ^ ((w[1]! << 1n) & M64) ^ ((w[2]! << 2n) & M64) ^ ((w[3]! << 3n) & M64)) & M64;
}

function tupleOf(ver: number, w: bigint[], ports: bigint): Tuple {
  const sport = Number((ports >> 16n) & 0xffffn), dport = Number(ports & 0xffffn);
  if (ver === 4) return { src: ip4(w[0]! & 0xffffffffn), dst: ip4(w[0]! >> 32n), sport, dport };
  return { src: ip6(w[0]!, w[1]!), dst: ip6(w[2]!, w[3]!), sport, dport };
}

/**
 * One hook record → the calls and returns it stands for, in order; `lost` is the number of
 * callbacks that returned past the record's slots.
 */
export function expandHookRecord(m: RegExpExecArray): { records: CbRecord[]; lost: number } {
  const nsecs = Number(m[1]), skb = m[2]!, what = Number.parseInt(m[3]!, 16), ret = Number(m[4]), n = Number(m[5]);
  // what: hooknum | pf << 8 | IP version << 16 | IP protocol << 24
  const hooknum = what & 0xff, pf = (what >> 8) & 0xff, ver = (what >> 16) & 0xff, proto = (what >>> 24) & 0xff;
  const words = m.slice(6, 16).map((x) => BigInt(`0x${x}`));
  const inW = words.slice(0, 4), outW = words.slice(4, 8);
  const entry = tupleOf(ver, inW, words[8]!);
  const exit = ret === 1 ? tupleOf(ver, outW, words[9]!) : null;
  const slots = m[16]!.trim().split(' ');
  const records: CbRecord[] = [];
  let before: Tuple = entry;
  for (let i = 0; i < Math.min(n, HOOK_SLOTS); i++) {
    const callback = slots[3 * i]!, w = BigInt(`0x${slots[3 * i + 1]}`), a = BigInt(`0x${slots[3 * i + 2]}`);
    const verdict = Number(w & 0xffn), ctinfo = Number((w >> 8n) & 0xffn), status = Number((w >> 16n) & 0xffffn);
    records.push({ kind: 'C', nsecs, skb, pf, hooknum, callback, proto, tuple: before, sport: before.sport, dport: before.dport });
    let after: Tuple | null = null;
    if (ctinfo !== 9) {
      const sport = Number((w >> 32n) & 0xffffn), dport = Number((w >> 48n) & 0xffffn);
      if (ver === 4) after = { ...tupleOf(4, [a], 0n), sport, dport };
      // IPv6: the fold tells whether the addresses were still the hook's entry ones or already its exit ones.
      else if (a === fold6(inW)) after = { src: entry.src, dst: entry.dst, sport, dport };
      else if (exit && a === fold6(outW)) after = { src: exit.src, dst: exit.dst, sport, dport };
    }
    records.push({ kind: 'R', nsecs, skb, callback, verdict, ctinfo, status, tuple: after });
    if (after) before = after;
  }
  return { records, lost: Math.max(0, n - HOOK_SLOTS) };
}

const C = /^C (\d+) ([0-9a-f]+) (\d+) (\d+) (\S+) (\S+) (\S+) (\d+) (\d+)$/;
const R = /^R (\d+) ([0-9a-f]+) (\S+) (\d+) (\d+) (\d+) (\S+) (\S+) (\d+) (\d+)$/;

/** The records of some lines; `lost` counts callbacks that returned past a hook record's slots. */
export function parseFollowCbLost(lines: string[]): { records: CbRecord[]; lost: number } {
  let lost = 0;
  const records = parseFollowCb(lines, (n) => { lost += n; });
  return { records, lost };
}

export function parseFollowCb(lines: string[], onLost: (n: number) => void = () => {}): CbRecord[] {
  const out: CbRecord[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line === 'READY') return;
    let m = H.exec(line);
    if (m) {
      const x = expandHookRecord(m);
      out.push(...x.records);
      if (x.lost) onLost(x.lost);
      return;
    }
    m = C.exec(line);
    if (m) {
      out.push({
        kind: 'C', nsecs: Number(m[1]), skb: m[2]!, pf: Number(m[3]), hooknum: Number(m[4]), callback: m[5]!, sport: Number(m[8]), dport: Number(m[9]),
        tuple: m[6] === '-' ? null : { src: m[6]!, dst: m[7]!, sport: Number(m[8]), dport: Number(m[9]) },
      });
      return;
    }
    m = R.exec(line);
    if (m) {
      out.push({
        kind: 'R', nsecs: Number(m[1]), skb: m[2]!, callback: m[3]!, verdict: Number(m[4]), ctinfo: Number(m[5]), status: Number(m[6]),
        tuple: m[7] === '-' ? null : { src: m[7]!, dst: m[8]!, sport: Number(m[9]), dport: Number(m[10]) },
      });
      return;
    }
    throw new ParseError('follow_cb.bt output', i + 1, raw, 'expected an H, C or R record');
  });
  return out;
}
