/**
 * bpf/ct_syn.bt: the SYN's way through conntrack's callbacks and its unconfirmed entry. Pure.
 * Parameters: $1 the server's port, $2 the server netns's inode.
 */
import { fillCallbackProbes } from './callback-probes.js';
import type { BpfProgram } from './program.js';

/** ct_syn.bt with its probe lists filled in with `callbacks`. */
export function ctSynProgram(template: string, v: { callbacks: string[]; port: number; serverInode: string }): BpfProgram {
  return { text: fillCallbackProbes(template, v.callbacks), params: ctSynParams(v) };
}

/** ct_syn.bt's and kfree_skb_syn.bt's parameters: the same two. */
export function ctSynParams(v: { port: number; serverInode: string }): string[] {
  return [String(v.port), v.serverInode];
}
