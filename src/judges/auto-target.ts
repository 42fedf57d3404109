/**
 * --target auto: run where every step can be observed. Pure: the local
 * kernel's capabilities in, a target and a one-line reason out.
 */

/**
 * What the experiment's observations need of a kernel (the callbacks and the entry's life: kprobes;
 * the call tree: function_graph). Not tracefs: nfscope mounts it itself when it is not mounted.
 */
export const NEEDED = [
  { id: 'kprobes', for: 'the callbacks that saw the SYN and the entry\'s life' },
  { id: 'function_graph', for: 'the call tree of the allocation' },
] as const;

export function chooseAutoTarget(caps: { id: string; available: boolean | null }[], kernel: string): { target: 'local' | 'qemu'; why: string } {
  const missing = NEEDED.filter((n) => !caps.some((c) => c.id === n.id && c.available === true));
  if (missing.length === 0) return { target: 'local', why: `target local: this kernel (${kernel}) has ${NEEDED.map((n) => n.id).join(', ')}: every step can be observed here` };
  return {
    target: 'qemu',
    why: `target qemu (micro-VM): this kernel (${kernel}) has no ${missing.map((m) => m.id).join(', no ')} (needed for ${missing.map((m) => m.for).join('; ')}); use --target local to run here anyway`,
  };
}
