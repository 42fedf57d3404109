/**
 * What a run hands bpftrace: a program and its positional parameters ($1, $2, …
 * in the program), and the one builder of the bpftrace argv. Pure.
 * The command prefix (env, the bpftrace binary) comes from kernel/capabilities.ts
 * (bpftraceArgv); nothing the user typed reaches the program text, only params.
 */
import { CapabilityError } from '../lib/errors.js';

/** A program's text and its positional parameters, as strings. */
export interface BpfProgram {
  text: string;
  params: string[];
}

/** A program given as its text (-e) or as the bundled file on the target, as it is. */
export type Runnable = BpfProgram | { file: string; params: string[]; /** the file's text */ source: string };

/** A Runnable's program text. */
export function runnableText(p: Runnable): string {
  return 'file' in p ? p.source : p.text;
}

/**
 * The bpftrace command with these environment assignments added: through `env`, whose own
 * assignments of the same names they replace (BPFTRACE_BTF=/sys/kernel/btf/vmlinux, Debian 5.10).
 */
export function withEnv(bpftrace: readonly string[], env: readonly string[]): string[] {
  if (env.length === 0) return [...bpftrace];
  const names = new Set(env.map((e) => e.slice(0, e.indexOf('=') + 1)));
  if (bpftrace[0] !== 'env') return ['env', ...env, ...bpftrace];
  let i = 1;
  while (i < bpftrace.length && /^\w+=/.test(bpftrace[i]!)) i++;
  const kept = bpftrace.slice(1, i).filter((a) => !names.has(a.slice(0, a.indexOf('=') + 1)));
  return ['env', ...kept, ...env, ...bpftrace.slice(i)];
}

/** `bpftrace … -f json -e TEXT PARAMS` (or `… -f json FILE PARAMS`). */
export function tracerArgv(bpftrace: readonly string[], p: Runnable): string[] {
  return [...bpftrace, '-f', 'json', ...('file' in p ? [p.file] : ['-e', p.text]), ...p.params];
}

/**
 * The bpftrace options of a tracer nfscope stops with SIGINT: `-c 'SLEEP 2147483647'`, a child
 * that lives until the stop's SIGINT reaches the tracer's process group.
 * bpftrace 0.17 and 0.18 can miss a SIGINT: their poll loop (bpftrace.cpp poll_perf_events) ends
 * when epoll_wait is interrupted, or when a record arrives after the signal; one handled in the
 * moment between two epoll_waits (100 ms each) of a tracer that prints nothing more only sets a
 * flag, and the loop polls on for good (0.19 checks the flag). Seen in the micro-VM (Debian 6.1,
 * qemu TCG, vCPUs taking turns): 1 stop of 20 of the lifetime tracer never ended, bpftrace in
 * do_epoll_wait (scripts/repro/lifetimes-stop.mjs). With -c, bpftrace forks the child before it
 * compiles, lets it exec once its probes are attached, and leaves its poll loop within 100 ms of
 * the child's death, whatever became of the signal; then END runs and the maps are printed as
 * after a SIGINT. (A SIGINT before READY, a teardown's, kills the waiting child: bpftrace then
 * exits 255, "Failed to run child", without END: nothing was being watched yet.) A child killed
 * by someone else ends the tracer early: tools/tracer.ts endedEarly says so.
 * bpftrace splits CMD at spaces: a path with one is refused.
 */
export function untilStoppedOptions(sleep: string): string[] {
  if (/\s/.test(sleep)) throw new CapabilityError(`sleep's path ${JSON.stringify(sleep)} has a space, which bpftrace -c cannot take`);
  return ['-c', `${sleep} 2147483647`];
}
