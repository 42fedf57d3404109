import { ParseError } from '../lib/errors.js';
import type { CtEntry } from '../model/conntrack.js';

const L3 = new Set(['ipv4', 'ipv6']);

/**
 * Parses `conntrack -L` text, default or `-o extended` (leading "ipv4 2").
 * A line: [l3 num] proto num [timeout] [STATE] k=v… [FLAGS] k=v… [FLAGS] k=v…
 * The first src= starts the original tuple; the second src= the reply tuple.
 * The summary line conntrack prints on stderr is not expected here.
 */
export function parseConntrackList(text: string): CtEntry[] {
  const out: CtEntry[] = [];
  text.split('\n').forEach((line, i) => {
    const e = parseConntrackLine(line, i + 1);
    if (e) out.push(e);
  });
  return out;
}

/** One line of `conntrack -L`: its flow, or null for a blank line or the summary (a stream parses a line at a time). */
export function parseConntrackLine(line: string, lineNo: number): CtEntry | null {
  {
    const t = line.trim();
    if (t === '') return null;
    const bad = (why: string) => new ParseError('conntrack -L', lineNo, line, why);
    if (/flow entries have been shown/.test(t)) return null;
    const tok = t.split(/\s+/);
    let p = 0;
    let l3: string | null = null;
    if (L3.has(tok[0]!)) {
      l3 = tok[0]!;
      p = 2;
    }
    const proto = tok[p];
    if (!proto || !/^[a-z0-9]+$/.test(proto) || !/^\d+$/.test(tok[p + 1] ?? '')) throw bad('expected "<proto> <number>"');
    p += 2;
    let timeout: number | null = null;
    if (/^\d+$/.test(tok[p] ?? '')) timeout = Number(tok[p++]);
    let state: string | null = null;
    if (/^[A-Z_]+$/.test(tok[p] ?? '')) state = tok[p++]!;
    const e: CtEntry = { l3, proto, timeout, state, original: {}, reply: {}, flags: [], extra: {} };
    let side: 'original' | 'reply' | 'extra' = 'original';
    let srcSeen = 0;
    for (; p < tok.length; p++) {
      const w = tok[p]!;
      const fm = w.match(/^\[([A-Z_]+)\]$/);
      if (fm) {
        e.flags.push(fm[1]!);
        continue;
      }
      const kv = w.match(/^([a-z_]+)=(.*)$/);
      if (!kv) throw bad(`unexpected token '${w}'`);
      if (kv[1] === 'src') {
        srcSeen++;
        side = srcSeen === 1 ? 'original' : 'reply';
      } else if (['mark', 'use', 'secctx', 'zone', 'id', 'delta-time', 'labels'].includes(kv[1]!)) {
        side = 'extra';
      }
      e[side][kv[1]!] = kv[2]!;
    }
    if (srcSeen < 2) throw bad('no reply tuple');
    return e;
  }
}
