/**
 * bpf/ct_life.bt: every conntrack entry allocated while it runs, followed to
 * its confirmation or free. Its probes are written as tokens, filled per style
 * (kprobes, or fentry where there are none). Pure. Parameters: $1 the port of
 * the entries' original tuple (0: all), $2 a netns's inode (0: all).
 */
import type { BpfProgram } from './program.js';

export type ProbeStyle = 'fentry' | 'kprobe';

/** Probe names per style for the template: a fixed table, never user input. */
const STYLES: Record<ProbeStyle, Record<string, string>> = {
  fentry: {
    ALLOC_RET: 'kretfunc:__nf_conntrack_alloc', CONFIRM: 'kfunc:__nf_conntrack_confirm', CONFIRM_RET: 'kretfunc:__nf_conntrack_confirm',
    FREE: 'kfunc:nf_conntrack_free', SKB_ARG: 'args->skb', CT_ARG: 'args->ct',
  },
  kprobe: {
    ALLOC_RET: 'kretprobe:__nf_conntrack_alloc', CONFIRM: 'kprobe:__nf_conntrack_confirm', CONFIRM_RET: 'kretprobe:__nf_conntrack_confirm',
    FREE: 'kprobe:nf_conntrack_free', SKB_ARG: 'arg0', CT_ARG: 'arg0',
  },
};

/** The template with its probe tokens filled for `style`. */
export function fillCtLife(template: string, style: ProbeStyle): string {
  // Only the probe lines and the two argument tokens; the header comment keeps its words.
  const body = template.indexOf('*/') + 2;
  let code = template.slice(body);
  for (const [token, value] of Object.entries(STYLES[style])) code = code.replace(new RegExp(`\\b${token}\\b`, 'g'), value);
  return template.slice(0, body) + code;
}

export function ctLifeProgram(template: string, v: { style: ProbeStyle; port: number | null; netnsInode: string | null }): BpfProgram {
  return { text: fillCtLife(template, v.style), params: [String(v.port ?? 0), v.netnsInode ?? '0'] };
}
