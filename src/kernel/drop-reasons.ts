import { parseSymbolicMap } from '../parsers/tracepoint-format.js';
import type { Target } from '../targets/target.js';

export interface DropReasonNames {
  /** enum skb_drop_reason's numbers and names, as this kernel's skb:kfree_skb format prints them. */
  names: Map<number, string>;
  /** Why there are none to give, when the format could not be read; null when it was. */
  why: string | null;
}

/**
 * The names of the kfree_skb reasons, from the tracepoint's own format: their numbers move between
 * kernels (NETFILTER_DROP is 7 on 6.1, 12 on 6.18). A format that could not be read gives no names
 * and says so, so a report shows the numbers with the reason beside them, never a name of another
 * kernel. (A format with no reason field, before 5.17, gives none either: there the tracers read no
 * reason at all, programs/adapt.ts.) A read that failed otherwise throws (Target.readFile).
 */
export async function dropReasonNames(target: Target, tracefs: string): Promise<DropReasonNames> {
  const path = `${tracefs}/events/skb/kfree_skb/format`;
  const text = await target.readFile(path);
  if (text === null) return { names: new Map(), why: `${path} is not there or not readable here: drop reasons are shown as numbers, not named` };
  return { names: parseSymbolicMap(text, 'reason'), why: null };
}
