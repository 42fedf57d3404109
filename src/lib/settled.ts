/**
 * Every promise run to its end, then the first failure (in the given order) thrown.
 * For commands that change state side by side: Promise.all would let the caller's
 * undo start while a sibling still runs, and a sibling finishing after the undo
 * (an `ip netns add`) would leave its change behind.
 */
export async function allSettledOrThrow<T>(ps: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(ps);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
