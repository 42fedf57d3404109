/**
 * A tracepoint's `format` file → the names of an enum field printed with
 * __print_symbolic, e.g. skb:kfree_skb's drop reasons:
 *   print fmt: "... reason: %s", ..., __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, ...)
 * Reason numbers differ between kernels (NETFILTER_DROP is 7 on 6.1, 12 on
 * 6.18): always resolve them through this map, never by number.
 */
export function parseSymbolicMap(format: string, field: string): Map<number, string> {
  const out = new Map<number, string>();
  const start = format.indexOf(`__print_symbolic(REC->${field},`);
  if (start < 0) return out;
  // The list ends with "})": the last pair's brace, then __print_symbolic's paren.
  const end = format.indexOf('})', start);
  const body = format.slice(start, end < 0 ? undefined : end + 1);
  for (const m of body.matchAll(/\{\s*(-?\d+|0x[0-9a-fA-F]+)\s*,\s*"([^"]*)"\s*\}/g)) {
    out.set(Number(m[1]), m[2]!);
  }
  return out;
}
