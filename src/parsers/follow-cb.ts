/**
 * bpf/follow_cb.bt's printf records → callback calls and returns. Pure.
 *   C <nsecs> <skb> <pf> <hooknum> <callback> <src> <dst> <sport> <dport>
 *   R <nsecs> <skb> <callback> <verdict> <ctinfo> <status> <src> <dst> <sport> <dport>
 */
import { ParseError } from '../lib/errors.js';

export interface CbCall {
  kind: 'C'; nsecs: number; skb: string; pf: number; hooknum: number; callback: string;
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

const C = /^C (\d+) ([0-9a-f]+) (\d+) (\d+) (\S+) (\S+) (\S+) (\d+) (\d+)$/;
const R = /^R (\d+) ([0-9a-f]+) (\S+) (\d+) (\d+) (\d+) (\S+) (\S+) (\d+) (\d+)$/;

export function parseFollowCb(lines: string[]): CbRecord[] {
  const out: CbRecord[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line === 'READY') return;
    let m = C.exec(line);
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
    throw new ParseError('follow_cb.bt output', i + 1, raw, 'expected a C or R record');
  });
  return out;
}
