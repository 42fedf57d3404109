import { findPath } from '../model/call-tree.js';
import type { Evidence } from '../model/lab.js';
import { callbackLines } from './callbacks.js';
import { renderCallTree } from './call-tree.js';
import { renderHookLists } from './hooks-table.js';
import { renderLifetimes } from './lifetimes.js';

/** A lab claim's evidence as a person reads it: a table, a tree, a stack, the tool's lines. */
export function evidenceText(e: Evidence): string {
  switch (e.kind) {
    case 'hooks':
      return renderHookLists(e.hooks).join('\n').trim() || '(no netfilter hook registered in the netns)';
    case 'callbacks':
      return callbackLines(e.callbacks).join('\n') || '(none)';
    case 'call-tree':
      return renderCallTree(e.trees, { mark: new Set(findPath(e.trees, e.mark) ?? []), maxDepth: e.maxDepth });
    case 'drop':
    case 'stack':
      return e.frames.join('\n');
    case 'conntrack':
      return e.lines.join('\n') || '(no flow)';
    case 'counter':
      return e.lines.join('\n');
    case 'lifetimes':
      return renderLifetimes(e.lifetimes);
  }
}
