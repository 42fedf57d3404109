/** `nfscope hooks --diff` as text: per hook, each entry added, removed, moved or re-prioritised. */
import type { EntryChange, EntryRef, HooksDiffReport } from '../model/hooks-lint.js';

/** An entry as a diff names it: its callback, and its chain where it has one. */
export const entryLabel = (e: EntryRef) => `${e.callback}${e.chain ? ` (${e.chain.family} ${e.chain.table} ${e.chain.chain})` : ''}`;

function change(c: EntryChange): string {
  switch (c.kind) {
    case 'added': return `  + ${String(c.entry.priority).padStart(11)} ${entryLabel(c.entry)}`;
    case 'removed': return `  - ${String(c.entry.priority).padStart(11)} ${entryLabel(c.entry)}`;
    case 'priority': return `  ~ ${String(c.to).padStart(11)} ${entryLabel(c.entry)}: priority ${c.from} → ${c.to}`;
    case 'moved': return `  ↕ ${String(c.entry.priority).padStart(11)} ${entryLabel(c.entry)}: place ${c.from + 1} → ${c.to + 1} among the entries both have (equal priorities: registration order)`;
  }
}

export function renderHooksDiff(r: HooksDiffReport): string {
  const head = [`a: ${r.a.source} (kernel ${r.a.kernel}, netns ${r.a.netns})`, `b: ${r.b.source} (kernel ${r.b.kernel}, netns ${r.b.netns})`];
  if (r.hooks.length === 0) return [...head, 'no difference'].join('\n');
  return [...head, ...r.hooks.map((h) => [`${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''}`, ...h.changes.map(change)].join('\n'))].join('\n\n');
}
