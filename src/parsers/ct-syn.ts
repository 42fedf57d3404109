import { ParseError } from '../lib/errors.js';
import { dropFromRecord, type SkbDrop } from './kfree-skb.js';
import { expectFields, parseTraceRecords } from './trace-records.js';

/** What bpf/ct_syn.bt saw: see the header of that file. */
export interface CtSynTrace {
  ready: boolean;
  callbacks: { nsecs: bigint; callback: string; hooknum: number; skb: string }[];
  /** A callback's return for the SYN (its verdict & 0xff); absent from captures of ct_syn.bt before verdicts. */
  returns: { nsecs: bigint; callback: string; verdict: number }[];
  allocs: { nsecs: bigint; ct: string; stack: string[] }[];
  confirms: { nsecs: bigint; ct: string }[];
  frees: { nsecs: bigint; ct: string; status: number; lifetimeNs: number; stack: string[] }[];
  drops: SkbDrop[];
}

const WHAT = 'ct_syn.bt output';
const N = /^\d+$/;
const HEX = /^[0-9a-f]+$/;

export function parseCtSyn(lines: string[]): CtSynTrace {
  const { ready, records } = parseTraceRecords(lines, WHAT, new Set(['A', 'X', 'K']));
  const t: CtSynTrace = { ready, callbacks: [], returns: [], allocs: [], confirms: [], frees: [], drops: [] };
  for (const r of records) {
    switch (r.kind) {
      case 'C': {
        const f = expectFields(r, WHAT, [N, /^[\w.]+$/, N, HEX]);
        t.callbacks.push({ nsecs: BigInt(f[0]!), callback: f[1]!, hooknum: Number(f[2]), skb: f[3]! });
        break;
      }
      case 'R': {
        const f = expectFields(r, WHAT, [N, /^[\w.]+$/, /^\d{1,3}$/]);
        t.returns.push({ nsecs: BigInt(f[0]!), callback: f[1]!, verdict: Number(f[2]) });
        break;
      }
      case 'A': {
        const f = expectFields(r, WHAT, [N, HEX]);
        t.allocs.push({ nsecs: BigInt(f[0]!), ct: f[1]!, stack: r.stack });
        break;
      }
      case 'F': {
        const f = expectFields(r, WHAT, [N, HEX]);
        t.confirms.push({ nsecs: BigInt(f[0]!), ct: f[1]! });
        break;
      }
      case 'X': {
        const f = expectFields(r, WHAT, [N, HEX, N, N]);
        t.frees.push({ nsecs: BigInt(f[0]!), ct: f[1]!, status: Number(f[2]), lifetimeNs: Number(f[3]), stack: r.stack });
        break;
      }
      case 'K':
        t.drops.push(dropFromRecord(r));
        break;
      default:
        throw new ParseError(WHAT, r.line, `${r.kind} ${r.fields.join(' ')}`, 'unknown record');
    }
  }
  return t;
}

/** IPS_CONFIRMED is bit 3 of nf_conn->status (include/uapi/linux/netfilter/nf_conntrack_common.h). */
export const IPS_CONFIRMED = 1 << 3;
