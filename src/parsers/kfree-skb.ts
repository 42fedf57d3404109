import { expectFields, parseTraceRecords, type TraceRecord } from './trace-records.js';

/** One drop of the test SYN, from bpf/kfree_skb_syn.bt or bpf/ct_syn.bt. */
export interface SkbDrop {
  nsecs: bigint;
  reasonCode: number;
  location: string;
  ipVersion: 4 | 6;
  skb: string;
  stack: string[];
}

const WHAT = 'kfree_skb records';

export function dropFromRecord(r: TraceRecord): SkbDrop {
  const f = expectFields(r, WHAT, [/^\d+$/, /^-?\d+$/, /^\S+$/, /^[46]$/, /^[0-9a-f]+$/]);
  return { nsecs: BigInt(f[0]!), reasonCode: Number(f[1]), location: f[2]!, ipVersion: Number(f[3]) as 4 | 6, skb: f[4]!, stack: r.stack };
}

/** Parses the printf lines of kfree_skb_syn.bt (READY, then K records each followed by a stack). */
export function parseKfreeSkb(lines: string[]): { ready: boolean; drops: SkbDrop[] } {
  const { ready, records } = parseTraceRecords(lines, WHAT, new Set(['K']));
  return { ready, drops: records.filter((r) => r.kind === 'K').map(dropFromRecord) };
}
