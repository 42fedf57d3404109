/**
 * Facts about this machine's kernel read from the kernel's own files, independent of nfscope's
 * capability probe (kernel/capabilities.ts), so that a test's expectation never comes from the
 * code under test. Each works with tracefs unmounted (as on the 6.18 host between runs).
 */
import { existsSync, readFileSync } from 'node:fs';

let syms: Set<string> | null = null;
/** Whether /proc/kallsyms names this symbol (any type, any module). */
export function kernelHasSymbol(name: string): boolean {
  syms ??= new Set(readFileSync('/proc/kallsyms', 'utf8').split('\n').map((l) => l.split(/\s+/)[2]!).filter(Boolean));
  return syms.has(name);
}

/**
 * Kprobes as bpftrace uses them: CONFIG_KPROBES (register_kprobe) and the perf kprobe PMU that
 * kprobe events provide (create_local_trace_kprobe, CONFIG_KPROBE_EVENTS; both since 4.17).
 */
export function kernelHasKprobes(): boolean {
  return kernelHasSymbol('register_kprobe') && kernelHasSymbol('create_local_trace_kprobe');
}

/** The function_graph tracer is built in (CONFIG_FUNCTION_GRAPH_TRACER: register_ftrace_graph, 5.1+). */
export function kernelHasFunctionGraph(): boolean {
  return kernelHasSymbol('register_ftrace_graph');
}

const BTF = '/sys/kernel/btf/vmlinux';
let btf: Buffer | null = null;
/** Whether the kernel's BTF has this name in its string table (a type, member or enumerator). */
export function btfHasName(name: string): boolean {
  if (!existsSync(BTF)) return false;
  btf ??= readFileSync(BTF);
  return btf.includes(Buffer.from(`\0${name}\0`));
}
