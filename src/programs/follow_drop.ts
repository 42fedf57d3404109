/**
 * bpf/follow_drop.bt: follow's drops (skb:kfree_skb), filtered in the kernel. Nothing to fill:
 * the template runs as it is. Pure. Parameters: $1 the netns's inode, then the filter
 * (programs/follow-filter.ts).
 */
import type { FollowFilter } from '../model/follow.js';
import { followFilterParams } from './follow-filter.js';
import type { BpfProgram } from './program.js';

export function followDropProgram(template: string, v: { inode: string; filter: FollowFilter; ifindex: number }): BpfProgram {
  return { text: template, params: [v.inode, ...followFilterParams(v.filter, v.ifindex)] };
}
