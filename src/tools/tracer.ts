import type { Cleanup } from '../lib/cleanup.js';
import { CommandFailedError } from '../lib/errors.js';
import { stderrExcerpt } from '../lib/run-result.js';
import { delay } from '../lib/time.js';
import { parseBpftraceJsonLine } from '../parsers/bpftrace-json.js';
import type { RawRun, Running, Target } from '../targets/target.js';
import { Counted } from '../model/bounded.js';

/** The comm the process will have: `env A=1 B=2 /usr/bin/bpftrace …` execs bpftrace. */
export function commOf(argv: string[]): string {
  let i = 0;
  if (argv[0]!.split('/').pop() === 'env') for (i = 1; i < argv.length - 1 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!); i++);
  return argv[i]!.split('/').pop()!.slice(0, 15);
}

/**
 * Starts a bpftrace tracer and resolves once its BEGIN probe printed READY (all probes attached).
 * `lines` collects its printf records for the whole run only with keepLines (trace-syn, the
 * hook-listing server read them there); a streaming reader (follow) has its own listener, and
 * collecting would parse every line twice and keep an hour-long run's output in memory.
 * With stream, the transport does not collect its stdout either (ExecOptions.stream: follow).
 * A line that is not bpftrace's JSON is counted in `malformed` (a few kept as examples), never
 * thrown from the line handler, where it tore the whole run down (issue 26).
 */
export async function startTracer(
  target: Target, cleanup: Cleanup, argv: string[], what: string, opts: { keepLines?: boolean; stream?: boolean } = {},
): Promise<{ tracer: Running; lines: string[]; malformed: Counted; lost: { events: number }; endedEarly: () => EarlyEnd | null }> {
  const spawned = target.spawn(argv, opts.stream ? { stream: true } : {});
  // A tracer that ends before it is stopped (its -c child killed, bpftrace's own error) covers only
  // part of the window it was meant to: endedEarly() says when and how, for the caller to report.
  const t0 = Date.now();
  let stopAsked = false;
  let early: EarlyEnd | null = null;
  void spawned.done.then((r) => {
    if (!stopAsked) early = { afterS: (Date.now() - t0) / 1000, run: r };
  });
  const tracer: Running = {
    ...spawned,
    stop: (graceMs) => {
      stopAsked = true;
      return spawned.stop(graceMs);
    },
  };
  const malformed = new Counted();
  // Journaled with its pid: a tracer orphaned by a SIGKILL is found and killed by `nfscope cleanup`
  // (locally it also gets SIGKILL from the kernel: setpriv --pdeathsig).
  await cleanup.adopt(`stop ${what}`, async () => {
    await tracer.stop();
  }, tracer.pid ? { kill: { pid: tracer.pid, comm: commOf(argv) } } : undefined);
  const lines: string[] = [];
  /** Events bpftrace says it lost (lost_events records): with keepLines, for the whole run. */
  const lost = { events: 0 };
  let n = 0;
  let attached = false;
  const ready = new Promise<void>((resolve, reject) => {
    tracer.onLine((l) => {
      if (attached && !opts.keepLines) return;
      let ev;
      try {
        ev = parseBpftraceJsonLine(l, ++n);
      } catch {
        malformed.add(l);
        return;
      }
      if (ev?.type === 'lost_events') lost.events += Number((ev.data as { events?: number }).events ?? 0);
      if (ev?.type === 'printf' && typeof ev.data === 'string') {
        lines.push(...ev.data.split('\n').slice(0, -1));
        if (ev.data.startsWith('READY')) {
          attached = true;
          resolve();
        }
      }
    });
    void tracer.done.then((r) => reject(new CommandFailedError(shownArgv(argv), r.exitCode, r.stderr, `${what} exited before it was ready`)));
  });
  // bpftrace compiles and attaches in 5-8 s under qemu TCG; a minute means it is stuck.
  const ok = await Promise.race([ready.then(() => true), delay(120_000, false)]);
  if (!ok) throw new CommandFailedError(shownArgv(argv), null, '', `${what} did not attach within 120 s`);
  return { tracer, lines, malformed, lost, endedEarly: () => early };
}

/** A tracer's end before nfscope stopped it: how long after its start, and its run. */
export interface EarlyEnd { afterS: number; run: RawRun }

/** A tracer's argv as a failure shows it: up to its program (`-e TEXT`, pages long, left out). */
export function shownArgv(argv: readonly string[]): string[] {
  const e = argv.indexOf('-e');
  return e < 0 ? [...argv] : [...argv.slice(0, e), '-e', '…'];
}

/** bpftrace 0.17 prints this on every run where RLIMIT_MEMLOCK cannot be raised, attached or not: not a reason. */
export const MEMLOCK_NOISE = /RLIMIT_MEMLOCK/;

/** One line on an early end, from the run itself: "ended by itself 3.2 s after it started (exit 0: …)". */
export function earlyEndReason(e: EarlyEnd): string {
  const err = stderrExcerpt(e.run.stderr.split('\n').filter((l) => !MEMLOCK_NOISE.test(l)).join('\n'));
  return `ended by itself ${e.afterS.toFixed(1)} s after it started, before nfscope stopped it (${e.run.exitCode !== null ? `exit ${e.run.exitCode}` : `killed by ${e.run.signal ?? 'a signal'}`}${err ? `: ${err}` : ''})`;
}


/**
 * Runs a one-shot bpftrace program (BEGIN … exit()) and returns once it has printed `end` as a
 * printf record: bpftrace 0.17 polls its perf buffers twice more after exit(), 100 ms each, before
 * it exits (strace on 6.18: two empty epoll_wait(…, 100) after the last record), a fifth of the
 * hook listing. SIGINT does not cut those polls short (bpftrace only notes it, and its epoll_wait
 * goes on: 106 ms from SIGINT to exit, 6.18), so SIGKILL follows at once: everything bpftrace holds
 * (programs, maps, the perf-event uprobe of BEGIN) is released with its file descriptors, and every
 * record before `end` has reached the pipe (bpftrace flushes each one). `ended` says whether the
 * record came: without it the run is whatever bpftrace left (an error, a timeout).
 */
export async function runToRecord(target: Target, argv: string[], end: string, timeoutMs: number): Promise<RawRun & { ended: boolean }> {
  const run = target.spawn(argv);
  let ended = false;
  let n = 0;
  run.onLine((l) => {
    n++;
    // Only a line that can be the end record is parsed here; the caller parses the whole output.
    if (ended || !l.includes(JSON.stringify(`${end}\n`))) return;
    let ev;
    try {
      ev = parseBpftraceJsonLine(l, n);
    } catch {
      return; // not JSON: the caller's parse of the whole output reports it, with its line number
    }
    if (ev?.type === 'printf' && ev.data === `${end}\n`) {
      ended = true;
      void run.stop(0);
    }
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void run.stop(1000);
  }, timeoutMs);
  try {
    const r = await run.done;
    return { ...r, timedOut: r.timedOut || timedOut, ended };
  } finally {
    clearTimeout(timer);
  }
}
