/**
 * bpf/follow_cb.bt: follow's callbacks and their verdicts (kprobes on every callback of the
 * netns's hook listing). Pure. Parameters: $1 the netns's inode, $2-$9 the filter
 * (programs/follow-filter.ts), $10 nf_hook_slow's length (SPAN: a callback counts only when
 * nf_hook_slow itself called it).
 */
import type { FollowFilter } from '../model/follow.js';
import { fillCallbackProbes } from './callback-probes.js';
import { followFilterParams } from './follow-filter.js';
import type { BpfProgram } from './program.js';

/**
 * follow_cb.bt's QUEUE_PROBE block: kprobe:nf_queue where the kernel lets it be probed, else
 * gone, and a hook that returned 0 is then left without a verdict (STOLEN and QUEUE look alike).
 */
export function fillQueueProbe(text: string, queueProbed: boolean): string {
  if (queueProbed) return text.replace(/^QUEUE_PROBE$/m, 'kprobe:nf_queue');
  return text.replace(/^QUEUE_PROBE\n\{[\s\S]*?\n\}\n/m, '').replace(/^.*\/\* queue \*\/\n/gm, '').replace(/^( *)\$stop = 2;$/m, '$1$stop = 255;');
}

export function followCbProgram(
  template: string,
  v: { callbacks: string[]; queue: boolean; inode: string; filter: FollowFilter; ifindex: number; span: number },
): BpfProgram {
  return {
    text: fillQueueProbe(fillCallbackProbes(template, v.callbacks), v.queue),
    params: [v.inode, ...followFilterParams(v.filter, v.ifindex), String(v.span)],
  };
}
