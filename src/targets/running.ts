import type { RawRun, Running } from './target.js';

/**
 * How long a process may take to be gone after SIGKILL. The kernel delivers it
 * at once to a process that can run; one in uninterruptible sleep (a hung 9p
 * or tracefs read), or behind a guest that stopped answering, may never go.
 */
export const KILL_WAIT_MS = 10_000;

/**
 * The Running handle every transport returns: line listeners, and stop() as
 * SIGINT (bpftrace then prints its maps and exits), SIGKILL after graceMs (explain: the
 * transport notes in its stderr what the process's tasks were doing, targets/task-snapshot.ts), and
 * a failure that says so when the process is still not gone KILL_WAIT_MS
 * after that: a stop never waits without end. Only how a signal reaches the
 * process differs between transports.
 */
export function runningHandle(
  argv: string[], done: Promise<RawRun>, signal: (sig: 'INT' | 'KILL', explain: boolean) => void | Promise<void>, killWaitMs = KILL_WAIT_MS,
): { running: Running; emit: (line: string) => void } {
  const listeners: ((l: string) => void)[] = [];
  let exited = false;
  void done.then(() => (exited = true));
  let abandon: (r: RawRun) => void = () => {};
  const abandoned = new Promise<RawRun>((r) => (abandon = r));
  // What every caller waits on: the process's exit, or the failure of a stop that did not end it.
  const settled = Promise.race([done, abandoned]);
  let stopping: Promise<RawRun> | null = null;
  const running: Running = {
    argv,
    done: settled,
    onLine: (cb) => listeners.push(cb),
    stop: (graceMs = 3000) => {
      stopping ??= (async () => {
        if (exited) return done;
        const t0 = performance.now();
        let waitTimer: NodeJS.Timeout | undefined;
        let killed = false;
        const killTimer = setTimeout(() => {
          killed = true;
          // A stop with no grace (runToRecord, once its record is in) kills as planned: nothing to
          // explain. After a grace, the transport keeps what the process's tasks were doing.
          void signal('KILL', graceMs > 0);
          waitTimer = setTimeout(() => abandon({
            argv, stdout: '', exitCode: null, timedOut: true, durationMs: performance.now() - t0,
            stderr: `did not die: still running ${killWaitMs / 1000} s after SIGKILL (sent ${graceMs / 1000} s after SIGINT)\n`,
          }), killWaitMs);
        }, graceMs);
        await signal('INT', false);
        const r = await settled;
        clearTimeout(killTimer);
        clearTimeout(waitTimer);
        // Whose SIGKILL it was, in the run's own words: this stop's, after its grace, or another's
        // (the OOM killer, a user): a tracer that never printed its END reads differently for each.
        if (r.exitCode === null && !r.timedOut && r.signal?.startsWith('SIG')) {
          const whose = killed && r.signal === 'SIGKILL'
            ? `nfscope sent SIGKILL: it had not exited ${graceMs / 1000} s after SIGINT`
            : `ended by ${r.signal}, which nfscope did not send (${killed ? `its own SIGKILL went ${graceMs / 1000} s after SIGINT` : `${Math.round(performance.now() - t0)} ms after its SIGINT`})`;
          return { ...r, stderr: `${r.stderr}${r.stderr && !r.stderr.endsWith('\n') ? '\n' : ''}${whose}\n` };
        }
        return r;
      })();
      return stopping;
    },
  };
  return { running, emit: (l) => listeners.forEach((cb) => cb(l)) };
}
