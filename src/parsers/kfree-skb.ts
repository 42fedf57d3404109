import { ParseError } from '../lib/errors.js';

/** One drop of the test SYN, from bpf/kfree_skb_syn.bt. */
export interface SkbDrop {
  nsecs: bigint;
  reasonCode: number;
  location: string;
  ipVersion: 4 | 6;
  skb: string;
  stack: string[];
}

/** Parses the printf lines of kfree_skb_syn.bt (READY, then K records each followed by a stack). */
export function parseKfreeSkb(lines: string[]): { ready: boolean; drops: SkbDrop[] } {
  let ready = false;
  const drops: SkbDrop[] = [];
  let cur: SkbDrop | null = null;
  lines.forEach((line, i) => {
    const bad = (why: string) => new ParseError('kfree_skb_syn.bt output', i + 1, line, why);
    if (line === 'READY') {
      ready = true;
      return;
    }
    if (line.startsWith('K ')) {
      const f = line.split(' ');
      if (f.length !== 6 || !/^\d+$/.test(f[1]!) || !/^-?\d+$/.test(f[2]!) || !/^[46]$/.test(f[4]!)) {
        throw bad('expected "K <nsecs> <reason> <location> <ipver> <skb>"');
      }
      cur = { nsecs: BigInt(f[1]!), reasonCode: Number(f[2]), location: f[3]!, ipVersion: Number(f[4]) as 4 | 6, skb: f[5]!, stack: [] };
      drops.push(cur);
      return;
    }
    const t = line.trim();
    if (t === '') {
      // bpftrace's kstack text starts and ends with a newline: a blank line
      // right after the K line opens the stack, one after frames closes it.
      if (cur && cur.stack.length > 0) cur = null;
      return;
    }
    if (!cur) throw bad('stack frame outside a record');
    if (!/^[\w.$]+(\+\d+)?$/.test(t) && !/^0x[0-9a-f]+$/.test(t)) throw bad('not a stack frame');
    cur.stack.push(t);
  });
  return { ready, drops };
}

/** "nf_hook_slow+67" → "nf_hook_slow". */
export function frameSymbol(frame: string): string {
  return frame.replace(/\+\d+$/, '');
}
