/**
 * What a run hands bpftrace: a program and its positional parameters ($1, $2, …
 * in the program), and the one builder of the bpftrace argv. Pure.
 * The command prefix (env, the bpftrace binary) comes from kernel/capabilities.ts
 * (bpftraceArgv); nothing the user typed reaches the program text, only params.
 */

/** A program's text and its positional parameters, as strings. */
export interface BpfProgram {
  text: string;
  params: string[];
}

/** A program given as its text (-e) or as the bundled file on the target, as it is. */
export type Runnable = BpfProgram | { file: string; params: string[] };

/** `bpftrace … -f json -e TEXT PARAMS` (or `… -f json FILE PARAMS`). */
export function tracerArgv(bpftrace: readonly string[], p: Runnable): string[] {
  return [...bpftrace, '-f', 'json', ...('file' in p ? [p.file] : ['-e', p.text]), ...p.params];
}
