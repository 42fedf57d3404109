import type { CallbackHit } from '../model/trace-syn.js';

/**
 * One line per callback that saw the SYN: hook, priority, conntrack mark,
 * name, owner, hits, verdict; the callback that returned DROP is named as the
 * one that dropped it. Shared by trace-syn's [1] and the lab's claim 2.
 */
export function callbackLines(cs: CallbackHit[]): string[] {
  return cs.map((c) => {
    const verdict = c.verdict === null ? 'verdict not seen'
      : c.verdict === 'mixed' ? Object.entries(c.verdicts).map(([v, n]) => `${v}×${n}`).join(' ') : c.verdict;
    const dropped = !c.dropped ? '' : c.verdicts.DROP ? '  ← dropped it' : '  ← dropped it (freed the packet itself: the drop is inside it)';
    return `${c.hook.padEnd(13)} ${String(c.priority ?? '?').padStart(11)} ${c.conntrack ? '*' : ' '} ${c.callback.padEnd(24)} ${(c.owner ?? '?').padEnd(10)} hits=${c.hits}  ${verdict}${dropped}`;
  });
}
