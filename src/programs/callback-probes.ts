/**
 * The probe lists of the callback templates (bpf/ct_syn.bt, bpf/follow_cb.bt):
 * a line CALLBACK_PROBES and a line CALLBACK_RETPROBES, each replaced by the
 * kprobes (kretprobes) on the given callbacks. Pure. Which callbacks this kernel
 * lets kprobes attach to is found in kernel/probe-points.ts.
 */

/** A kernel symbol name: what may become a probe name; anything else is refused. */
export const KERNEL_SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The template with its probe lists filled in: kernel symbol names, checked against KERNEL_SYMBOL. */
export function fillCallbackProbes(template: string, callbacks: string[]): string {
  if (callbacks.length === 0 || !callbacks.every((c) => KERNEL_SYMBOL.test(c))) throw new Error('no valid callback to probe');
  return template
    .replace(/^CALLBACK_PROBES$/m, callbacks.map((c) => `kprobe:${c}`).join(',\n'))
    .replace(/^CALLBACK_RETPROBES$/m, callbacks.map((c) => `kretprobe:${c}`).join(',\n'));
}
