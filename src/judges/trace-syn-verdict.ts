import { missingReason, notTracedReason, reasonText, type TraceSynReport } from '../model/trace-syn.js';

/**
 * The one-paragraph answer a student reads. Every sentence cites an
 * observation that was made; what was not observed is said to be unobserved.
 */
export function buildVerdict(r: TraceSynReport): string {
  const s: string[] = [];
  const sent = `${r.synsSent} SYN${r.synsSent === 1 ? '' : 's'}`;
  const callbacksWhy = notTracedReason(r, 'callbacks');
  if (r.callbacks.length > 0) {
    const ct = r.callbacks.filter((c) => c.conntrack && c.hits > 0).map((c) => `${c.callback} (${c.hook} ${c.priority ?? '?'}, ${c.hits} hit${c.hits === 1 ? '' : 's'}${c.verdict ? `, ${c.verdict}` : ''})`);
    const dropper = r.callbacks.find((c) => c.dropped);
    s.push(`Conntrack saw the ${sent}: ${ct.join(', ') || 'no conntrack callback fired'}` +
      (dropper ? `; ${dropper.callback} at ${dropper.hook} dropped it (returned ${dropper.verdict ?? '?'})` : '') + ' [1].');
  } else if (callbacksWhy === null) {
    s.push(`The kprobes on the netfilter callbacks were attached for the ${sent}, and none of the callbacks ran for it [1].`);
  } else {
    s.push(`Whether conntrack's callbacks saw the ${sent} was not observed (${callbacksWhy}) [1].`);
  }
  const counter = r.ruleCounter ?? null;
  const dropWhy = notTracedReason(r, 'drop');
  if (r.drop) {
    s.push(
      `The packet was dropped ${r.drop.count === r.synsSent ? 'every time' : `${r.drop.count} of ${r.synsSent} times`} with reason ${reasonText(r.drop.reason)} at ${r.drop.location}` +
        (r.drop.hook ? `, in ${r.drop.callback} at ${r.family} ${r.drop.hook}${r.drop.priority !== null ? ` priority ${r.drop.priority}` : ''}` : '') +
        (r.drop.ruleCounter ? `; the drop rule counted ${r.drop.ruleCounter.packets} packet(s)` : '') + ' [2].',
    );
  } else if (dropWhy === null) {
    s.push(`skb:kfree_skb was traced for the whole run and saw no drop of the SYN` + (counter ? `; the drop rule counted ${counter.packets} packet(s)` : '') + ' [2].');
  } else {
    s.push(`Where the SYN was dropped was not observed (${dropWhy})` + (counter ? `; the drop rule counted ${counter.packets} packet(s)` : '') + ' [2].');
  }
  const localIn = r.hooks.find((h) => h.family === r.family && h.hook === 'LOCAL_IN')?.entries ?? [];
  const confirmAt = localIn.findIndex((e) => /confirm/.test(e.callback));
  const dropAt = r.drop?.priority !== null && r.drop?.priority !== undefined
    ? localIn.findIndex((e) => e.callback === r.drop!.callback && e.priority === r.drop!.priority) : -1;
  const order = confirmAt >= 0 && dropAt >= 0
    ? `the hook listing runs ${localIn[dropAt]!.callback} (priority ${localIn[dropAt]!.priority}) ${dropAt < confirmAt ? 'before' : 'after'} ${localIn[confirmAt]!.callback} (priority ${localIn[confirmAt]!.priority}) at LOCAL_IN`
    : null;
  if (r.conntrackEntry) {
    s.push(`The conntrack table holds ${r.conntrackEntries} flow(s) to the port, as ${r.conntrackEntry.state ?? '?'} ${r.conntrackEntry.flags.map((f) => `[${f}]`).join(' ')} [3]` +
      (order ? `: ${order}, so the entry was confirmed, inserted in the table, before the packet was dropped.` : '.'));
  } else {
    s.push(`The conntrack table has no entry for the flow [3]` +
      (order ? `: ${order}; confirmation is what inserts an entry in the table, and the dropped packet never reached it.` : '.'));
  }
  if (r.unconfirmed) {
    const u = r.unconfirmed;
    s.push(`Conntrack allocated ${u.allocated} entr${u.allocated === 1 ? 'y' : 'ies'} for it, confirmed ${u.confirmed}, and freed ${u.freedUnconfirmed} unconfirmed` +
      (u.lifetimeUs ? ` after ${u.lifetimeUs.p50} µs (median)` : '') + (u.destroyStack.length ? `, from ${u.destroyStack.slice(0, 4).join(' ← ')}` : '') + ' [4].');
  } else {
    s.push(`The life of the unconfirmed entry (allocated, never confirmed, freed with the skb) was not observed (${missingReason(r, 'unconfirmed')}) [4].`);
  }
  return s.join(' ');
}
