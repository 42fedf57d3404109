/**
 * bpf/follow_drop.bt's printf records → drops. Pure. One record:
 *   K <nsecs> <reason> <location> <skbaddr> <ipver> <proto> <src> <dst> <sport> <dport> <tcpflags> <ifindex>
 * then the kernel stack (one frame a line) and a blank line.
 */
import { ParseError } from '../lib/errors.js';

export interface RawDrop {
  nsecs: number;
  reasonCode: number;
  location: string;
  skb: string;
  ipver: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  tcpFlags: number;
  ifindex: number;
  stack: string[];
}

const K = /^K (\d+) (-?\d+) (\S+) ([0-9a-f]+) ([46]) (\d+) (\S+) (\S+) (\d+) (\d+) (\d+) (-?\d+)$/;

/** The text of one or more printf records (as startTracer collects them: one line each). */
export function parseFollowDrops(lines: string[]): RawDrop[] {
  const out: RawDrop[] = [];
  let cur: RawDrop | null = null;
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === 'READY') return;
    const m = K.exec(line);
    if (m) {
      cur = {
        nsecs: Number(m[1]), reasonCode: Number(m[2]), location: m[3]!, skb: m[4]!, ipver: Number(m[5]) as 4 | 6,
        proto: Number(m[6]), src: m[7]!, dst: m[8]!, sport: Number(m[9]), dport: Number(m[10]), tcpFlags: Number(m[11]),
        ifindex: Number(m[12]), stack: [],
      };
      out.push(cur);
      return;
    }
    if (line.trim() === '') return;
    if (/^\s+\S+/.test(line) && cur) {
      (cur as RawDrop).stack.push(line.trim());
      return;
    }
    throw new ParseError('follow_drop.bt output', i + 1, line, 'expected a K record or a stack frame');
  });
  return out;
}

/** TCP flag bits → nft's names (fin syn rst psh ack urg ecn cwr), lowest bit first. */
export function tcpFlagNames(bits: number): string[] {
  const names = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ecn', 'cwr'];
  return names.filter((_, i) => bits & (1 << i));
}
