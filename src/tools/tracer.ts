import type { Cleanup } from '../lib/cleanup.js';
import { CommandFailedError } from '../lib/errors.js';
import { delay } from '../lib/time.js';
import { parseBpftraceJsonLine } from '../parsers/bpftrace-json.js';
import type { Running, Target } from '../targets/target.js';

/** The comm the process will have: `env A=1 B=2 /usr/bin/bpftrace …` execs bpftrace. */
export function commOf(argv: string[]): string {
  let i = 0;
  if (argv[0]!.split('/').pop() === 'env') for (i = 1; i < argv.length - 1 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!); i++);
  return argv[i]!.split('/').pop()!.slice(0, 15);
}

/** Starts a bpftrace tracer and resolves once its BEGIN probe printed READY (all probes attached). */
export async function startTracer(target: Target, cleanup: Cleanup, argv: string[], what: string): Promise<{ tracer: Running; lines: string[] }> {
  const tracer = target.spawn(argv);
  // Journaled with its pid: a tracer orphaned by a SIGKILL is found and killed by `nfscope cleanup`
  // (locally it also gets SIGKILL from the kernel: setpriv --pdeathsig).
  cleanup.push(`stop ${what}`, async () => {
    await tracer.stop();
  }, tracer.pid ? { kill: { pid: tracer.pid, comm: commOf(argv) } } : undefined);
  const lines: string[] = [];
  let n = 0;
  const ready = new Promise<void>((resolve, reject) => {
    tracer.onLine((l) => {
      const ev = parseBpftraceJsonLine(l, ++n);
      if (ev?.type === 'printf' && typeof ev.data === 'string') {
        lines.push(...ev.data.split('\n').slice(0, -1));
        if (ev.data.startsWith('READY')) resolve();
      }
    });
    void tracer.done.then((r) => reject(new CommandFailedError(argv.slice(0, 4), r.exitCode, r.stderr, `${what} exited before it was ready`)));
  });
  // bpftrace compiles and attaches in 5-8 s under qemu TCG; a minute means it is stuck.
  const ok = await Promise.race([ready.then(() => true), delay(120_000, false)]);
  if (!ok) throw new CommandFailedError(argv.slice(0, 4), null, '', `${what} did not attach within 120 s`);
  return { tracer, lines };
}

