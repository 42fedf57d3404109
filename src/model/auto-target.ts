/**
 * --target auto: run where every step can be observed. Pure: the local
 * kernel's capabilities in, a target and a one-line reason out.
 */
import type { Capability } from '../kernel/capabilities.js';

/** What the experiment's observations need of a kernel (claims 2 and 3: kprobes; claim 3's call tree: function_graph). */
export const NEEDED = [
  { id: 'kprobes', for: 'the callbacks that saw the SYN and the entry\'s life' },
  { id: 'function_graph', for: 'the call tree of the allocation' },
  { id: 'tracefs', for: 'every probe' },
] as const;

export function chooseAutoTarget(caps: Pick<Capability, 'id' | 'available'>[], kernel: string): { target: 'local' | 'qemu'; why: string } {
  const missing = NEEDED.filter((n) => !caps.some((c) => c.id === n.id && c.available));
  if (missing.length === 0) return { target: 'local', why: `target local: this kernel (${kernel}) has ${NEEDED.map((n) => n.id).join(', ')}: every step can be observed here` };
  return {
    target: 'qemu',
    why: `target qemu (micro-VM): this kernel (${kernel}) has no ${missing.map((m) => m.id).join(', no ')} (needed for ${missing.map((m) => m.for).join('; ')}); use --target local to run here anyway`,
  };
}
