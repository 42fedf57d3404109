export const LIFETIMES_SCHEMA_VERSION = 1;

/** One power-of-two bucket of a bpftrace hist(): [min, max) microseconds. */
export interface Bucket {
  min: number;
  max: number | null;
  count: number;
}

export interface LifetimesReport {
  schemaVersion: number;
  kernel: string;
  target: string;
  filter: { port: number | null; netns: string | null };
  durationS: number;
  counts: {
    allocated: number;
    confirmed: number;
    freedUnconfirmed: number;
    freedConfirmed: number;
    aliveAtEnd: number;
    aliveConfirmed: number;
    aliveUnconfirmed: number;
  };
  lifetimesUs: { unconfirmed: Bucket[]; confirmed: Bucket[] };
  /** Ages at the end of the entries still alive, microseconds. */
  aliveAgeUs: { min: number; max: number } | null;
  deaths: {
    byReason: { reason: string; code: number | null; count: number }[];
    byHook: { hook: string | null; callback: string | null; count: number }[];
    /** The free's stacks of entries freed unconfirmed, most frequent first. */
    stacks: { count: number; frames: string[] }[];
    /** Stacks (and the drop's hook) come from the first N deaths only; reasons and counts cover all. */
    stacksOfFirst: number | null;
  };
  /** Never hidden: events bpftrace dropped, entries it could not track (map full). */
  lost: { events: number; untracked: number };
  unavailable: { observation: string; reason: string }[];
}

/**
 * Smallest and largest of a list, rounded; null when empty. A loop, not
 * Math.min(...xs): a spread of more than ~120k arguments throws RangeError,
 * and the lifetimes map holds up to 262144 live entries.
 */
export function span(xs: readonly number[]): { min: number; max: number } | null {
  if (xs.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min: Math.round(min), max: Math.round(max) };
}
