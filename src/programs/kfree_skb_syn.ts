/**
 * bpf/kfree_skb_syn.bt: the SYN's drop (skb:kfree_skb) and its stack. Nothing to fill: the
 * template runs as it is (the session gives the bundled file where the kernel needs no
 * adaptation). Pure. Parameters as ct_syn.bt's: $1 the server's port, $2 the server netns's inode.
 */
import { ctSynParams } from './ct_syn.js';
import type { BpfProgram } from './program.js';

export function kfreeSkbSynProgram(template: string, v: { port: number; serverInode: string }): BpfProgram {
  return { text: template, params: ctSynParams(v) };
}
