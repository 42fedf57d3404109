/**
 * The drop of the SYN, attributed: hook and callback from the kernel stack,
 * priority from the hook listing (and nfscope's rule counter where several
 * chains share the callback), the reason by name. Pure.
 */
import type { HookList, IpFamily } from '../model/hooks.js';
import { hookFromStack } from '../model/stack-hooks.js';
import { NO_REASON, type DropObservation } from '../model/trace-syn.js';
import type { SkbDrop } from '../parsers/kfree-skb.js';
import { frameSymbol } from '../parsers/kstack.js';

/** Where nfscope's own DROP rule sits (tools/firewall.ts plans it). */
export interface DropAt {
  hook: string;
  priority: number;
  via: string;
}

export function summariseDrops(
  drops: SkbDrop[], reasons: Map<number, string>, hooks: HookList[],
  family: IpFamily, ruleCounter: DropObservation['ruleCounter'], dropAt: DropAt,
): DropObservation | null {
  const first = drops[0];
  if (!first) return null;
  const at = hookFromStack(first.stack);
  const evidence: string[] = [];
  if (at.evidence) evidence.push(at.evidence);
  let priority: number | null = null;
  let callback = at.callback;
  if (at.hook && at.freedByHookSlow) {
    // The callback that returned NF_DROP has left the stack (5.10): the drop rule's counter says which
    // chain dropped the packet, and the hook listing which callback runs that chain at its priority.
    const list = hooks.find((h) => h.family === family && h.hook === at.hook);
    const there = list?.entries.filter((e) => e.priority === dropAt.priority) ?? [];
    if (ruleCounter && ruleCounter.packets > 0 && dropAt.hook === at.hook && there.length === 1) {
      priority = dropAt.priority;
      callback = there[0]!.callback;
      evidence.push(`the drop rule in ${dropAt.via} counted the packet; the hook listing's only entry at ${family} ${at.hook} priority ${priority} is ${callback}`);
    } else {
      evidence.push(`the callback that returned NF_DROP is not on the stack, and the rule counter and hook listing do not single one out (${there.length} entries at priority ${dropAt.priority})`);
    }
  }
  if (at.hook && at.callback) {
    const list = hooks.find((h) => h.family === family && h.hook === at.hook);
    const matches = list?.entries.filter((e) => e.callback === at.callback) ?? [];
    if (matches.length === 1) {
      priority = matches[0]!.priority;
      evidence.push(`hook listing: ${at.callback} is the only entry with that callback at ${family} ${at.hook}, priority ${priority}`);
    } else if (matches.length > 1) {
      // Several chains share the callback: the one whose drop rule counted the packets is the one.
      const counted = ruleCounter && ruleCounter.packets > 0 && dropAt.hook === at.hook && matches.some((m) => m.priority === dropAt.priority);
      if (counted) {
        priority = dropAt.priority;
        evidence.push(`hook listing: ${matches.length} entries of ${at.callback} at ${family} ${at.hook}; the drop rule in ${dropAt.via} (priority ${dropAt.priority}) counted the packets`);
      } else {
        evidence.push(`hook listing: ${matches.length} entries of ${at.callback} at ${family} ${at.hook} (priorities ${matches.map((m) => m.priority).join(', ')}): priority not attributed`);
      }
    }
  }
  if (first.reasonCode === NO_REASON) evidence.push('reason: this kernel\'s skb:kfree_skb has no reason field (5.17+); the hook and callback above come from the stack and the hook listing');
  if (ruleCounter) evidence.push(`rule counter: ${ruleCounter.rule}: ${ruleCounter.packets} packet(s)`);
  // skb:kfree_skb's location is the free's return address. With function_graph tracing the same
  // packet (the lab's step 2), that address is function_graph's trampoline, return_to_handler
  // (seen on 6.1 and 6.12): the caller is then the stack's second frame.
  let location = first.location;
  if (/^return_to_handler\b/.test(location) && first.stack.length > 1) {
    location = frameSymbol(first.stack[1]!).fn;
    evidence.push(`location: the tracepoint read return_to_handler (function_graph held the return address); the caller, from the stack: ${location}`);
  }
  return {
    hook: at.hook,
    priority,
    callback,
    reason: first.reasonCode === NO_REASON ? null : (reasons.get(first.reasonCode) ?? `unknown (${first.reasonCode})`),
    reasonCode: first.reasonCode === NO_REASON ? null : first.reasonCode,
    location,
    evidence,
    stack: first.stack,
    count: drops.length,
    ruleCounter,
  };
}
