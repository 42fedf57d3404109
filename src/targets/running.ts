import type { RawRun, Running } from './target.js';

/**
 * The Running handle every transport returns: line listeners, and stop() as
 * SIGINT (bpftrace then prints its maps and exits), SIGKILL after graceMs.
 * Only how a signal reaches the process differs between transports.
 */
export function runningHandle(
  argv: string[], done: Promise<RawRun>, signal: (sig: 'INT' | 'KILL') => void | Promise<void>,
): { running: Running; emit: (line: string) => void } {
  const listeners: ((l: string) => void)[] = [];
  let exited = false;
  void done.then(() => (exited = true));
  let stopping: Promise<RawRun> | null = null;
  const running: Running = {
    argv,
    done,
    onLine: (cb) => listeners.push(cb),
    stop: (graceMs = 3000) => {
      stopping ??= (async () => {
        if (exited) return done;
        await signal('INT');
        const t = setTimeout(() => void signal('KILL'), graceMs);
        const r = await done;
        clearTimeout(t);
        return r;
      })();
      return stopping;
    },
  };
  return { running, emit: (l) => listeners.forEach((cb) => cb(l)) };
}
