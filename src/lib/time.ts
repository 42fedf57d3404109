/** A delay that does not keep the process alive: only for races against timeouts. */
export function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/** A pause that keeps the process alive until it ends (for polling loops). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise's outcome as a value, to await later: meanwhile its rejection is no unhandled one. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
export function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}
