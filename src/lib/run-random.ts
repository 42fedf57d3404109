/**
 * The random parts of the names a run gives what it makes on its target (netns, addresses, nft
 * tables, ftrace instances, the listing server's token). A recording keeps every draw and a replay
 * draws the same ones back (targets/recording.ts, targets/replay.ts): the command then asks the
 * recorded questions, and finds its own names in the recorded answers.
 */
import { randomBytes } from 'node:crypto';

let source: (n: number) => Buffer = randomBytes;

/** n random bytes, from the run's source. */
export function runRandomBytes(n: number): Buffer {
  return source(n);
}

/** A random integer in [0, max), from the run's source (6 bytes: max ≤ 2^48; the bias is below 2^-28 for max ≤ 10^6). */
export function runRandomInt(max: number): number {
  return runRandomBytes(6).readUIntBE(0, 6) % max;
}

/** Replaces the source (a recording wraps it, a replay serves its draws); returns the previous one. */
export function setRunRandom(s: (n: number) => Buffer): (n: number) => Buffer {
  const was = source;
  source = s;
  return was;
}
