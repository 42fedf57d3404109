import { ParseError } from '../lib/errors.js';
import type { Bucket } from '../model/lifetimes.js';
import type { BpftraceEvent } from './bpftrace-json.js';
import { parseKstackJson, type KStack } from './kstack.js';

/** What bpf/ct_life.bt prints at exit (bpftrace 0.17 -f json), typed. */
export interface CtLife {
  allocated: number;
  confirmed: number;
  freedUnconfirmed: number;
  freedConfirmed: number;
  lifeUnconfirmed: Bucket[];
  lifeConfirmed: Bucket[];
  /** reason code (-1: the skb was not dropped) → count */
  why: Map<number, number>;
  deaths: KStack[];
  dropStacks: KStack[];
  /** ct address → allocation time (ns), entries alive at the end */
  born: Map<string, bigint>;
  conf: Set<string>;
  endNsecs: bigint | null;
  /** Stacks are taken for the first deaths only (ct_life.bt's cap); how many were. */
  deathStacksTaken: number;
}

const WHAT = 'ct_life.bt output';

function scalar(events: BpftraceEvent[], name: string): number {
  for (const e of events) {
    if (e.type === 'map' && name in (e.data as object)) {
      const v = (e.data as Record<string, unknown>)[name];
      if (typeof v !== 'number') throw new ParseError(WHAT, 0, JSON.stringify(e).slice(0, 100), `${name} is not a number`);
      return v;
    }
  }
  return 0;
}

function keyed(events: BpftraceEvent[], name: string): Record<string, unknown> {
  for (const e of events) {
    if (e.type === 'map' && name in (e.data as object)) {
      const v = (e.data as Record<string, unknown>)[name];
      if (typeof v !== 'object' || v === null) throw new ParseError(WHAT, 0, JSON.stringify(e).slice(0, 100), `${name} is not a keyed map`);
      return v as Record<string, unknown>;
    }
  }
  return {};
}

function hist(events: BpftraceEvent[], name: string): Bucket[] {
  for (const e of events) {
    if (e.type !== 'hist' || !(name in (e.data as object))) continue;
    const v = (e.data as Record<string, unknown>)[name];
    if (!Array.isArray(v)) throw new ParseError(WHAT, 0, JSON.stringify(e).slice(0, 100), `${name} is not a list of buckets`);
    return v.map((b: { min?: unknown; max?: unknown; count?: unknown }) => {
      if (typeof b.count !== 'number' || (b.min !== undefined && typeof b.min !== 'number')) {
        throw new ParseError(WHAT, 0, JSON.stringify(b).slice(0, 100), `a bucket of ${name} is malformed`);
      }
      return { min: typeof b.min === 'number' ? b.min : 0, max: typeof b.max === 'number' ? b.max : null, count: b.count };
    });
  }
  return [];
}

export function parseCtLife(events: BpftraceEvent[], jsonText: string): CtLife {
  const num = (k: string, v: unknown) => {
    if (typeof v !== 'number') throw new ParseError(WHAT, 0, `${k}: ${String(v).slice(0, 40)}`, 'a count is not a number');
    return v;
  };
  const why = new Map<number, number>();
  for (const [k, v] of Object.entries(keyed(events, '@why'))) {
    if (!/^-?\d+$/.test(k)) throw new ParseError(WHAT, 0, k, '@why key is not a reason number');
    why.set(Number(k), num(k, v));
  }
  const born = new Map<string, bigint>();
  for (const [k, v] of Object.entries(keyed(events, '@born'))) {
    // bpftrace 0.17 prints a uint64 map key as a signed decimal (kernel addresses come out negative).
    if (!/^-?\d+$/.test(k)) throw new ParseError(WHAT, 0, k, '@born key is not an address');
    born.set(k, BigInt(num(k, v)));
  }
  const conf = new Set(Object.keys(keyed(events, '@conf')));
  const stacks = parseKstackJson(jsonText);
  const end = scalar(events, '@end_nsecs');
  return {
    allocated: scalar(events, '@allocated'),
    confirmed: scalar(events, '@confirmed'),
    freedUnconfirmed: scalar(events, '@freed_unconfirmed'),
    freedConfirmed: scalar(events, '@freed_confirmed'),
    lifeUnconfirmed: hist(events, '@life_unconfirmed_us'),
    lifeConfirmed: hist(events, '@life_confirmed_us'),
    why,
    deaths: stacks.filter((s) => s.map === '@death'),
    dropStacks: stacks.filter((s) => s.map === '@drop_stack'),
    born,
    conf,
    endNsecs: end ? BigInt(end) : null,
    deathStacksTaken: scalar(events, '@death_stacks_taken'),
  };
}
