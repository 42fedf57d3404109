import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import { access, readFile, readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/paths.js';
import { ByteTail, LineSplitter } from '../lib/bounded.js';
import { STREAM_TAIL_BYTES } from '../lib/target.js';
import type { ExecOptions, Host, RawRun, Running } from './target.js';
import { runningHandle } from './running.js';
import { atKillNote } from './task-snapshot.js';

/** NFSCOPE_DEBUG: every command's time, exit and argv on stderr (where a run spends its time). */
const DEBUG = !!process.env.NFSCOPE_DEBUG;

/** The kernel's BTF blobs, read in one blocking loop (see readFileBuffer). */
const BTF_FILE = /^\/sys\/kernel\/btf\/[\w.-]+$/;

/**
 * Children still running when nfscope exits (a signal's teardown ends with
 * process.exit) are killed, not left to finish on their own: a hook-listing
 * bpftrace outlived a SIGHUP'd run by a second (issue 15 test).
 */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('close', () => live.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    // Each is the leader of its own group (start: detached), and its children go with it.
    for (const c of live) {
      try {
        if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      } catch {
        c.kill('SIGKILL'); // ESRCH for the group: the leader alone, if it is still there
      }
    }
  });
}

/** Where a process's output goes: all of it (a command's answer), or a bounded tail (a stream). */
interface Sink { push(b: Buffer): void; text(): string; dropped: number }
function whole(): Sink {
  const parts: Buffer[] = [];
  return { push: (b) => parts.push(b), text: () => Buffer.concat(parts).toString('utf8'), dropped: 0 };
}

/**
 * A started process: kill(why) is SIGKILL to its group, with the note of what its tasks were doing
 * when there is a why (null: a kill as planned);
 * interrupt() is SIGINT to its group (as the agent sends it on the far targets): a tracer's child
 * (bpftrace -c, programs/program.ts untilStoppedOptions) ends with it.
 */
interface Started { child: ChildProcess; done: Promise<RawRun>; kill: (why: string | null) => void; interrupt: () => void }

/**
 * Starts argv with no shell and collects its output. node:child_process, not
 * execa: execa 9 takes ~90 ms to import on the 2-core dev machine, half of the
 * start-up budget of `nfscope hooks` (issue 2 benchmark); what we need of it
 * here (argv, timeout, kill, collect) is this function.
 */
function start(argv: string[], opts: ExecOptions, detached: boolean, lines?: LineSplitter): Started {
  const [file, ...args] = argv;
  if (!file) throw new Error('empty argv');
  const t0 = performance.now();
  const outFd = opts.stdoutFile ? openSync(opts.stdoutFile, 'w') : null;
  const child = spawn(file, args, {
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', outFd ?? 'pipe', 'pipe'],
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    cwd: opts.cwd,
    detached,
  });
  track(child);
  // A stream keeps the tails only (issue 26: an hour of `nft monitor` passed V8's string limit).
  const out: Sink = opts.stream ? new ByteTail(STREAM_TAIL_BYTES) : whole();
  const err: Sink = opts.stream ? new ByteTail(STREAM_TAIL_BYTES) : whole();
  if (outFd !== null) closeSync(outFd);
  child.stdout?.on('data', (b: Buffer) => {
    out.push(b);
    // Decoded per chunk: a UTF-8 sequence cut between chunks would become U+FFFD; setEncoding
    // would carry it over, but out needs the bytes. Lines are the tools' ASCII text.
    lines?.push(b.toString('utf8'));
  });
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let timedOut = false;
  // SIGKILL to its process group (when detached, as every start here is: a child it left, a `sleep`
  // under `sh`, would hold the pipes open and the run would not end), with what its tasks were
  // doing kept for its stderr: the evidence a run that would not end leaves.
  let atKill = '';
  const signal = (sig: 'SIGINT' | 'SIGKILL') => {
    if (child.pid === undefined) return; // never started: 'error' ends the run
    try {
      if (detached) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // ESRCH: the group is gone already; its 'close' ends the run.
    }
  };
  const kill = (why: string | null) => {
    if (why !== null && child.pid !== undefined && child.exitCode === null && child.signalCode === null) atKill = atKillNote(why, child.pid, detached);
    signal('SIGKILL');
  };
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        kill(`when its ${opts.timeoutMs} ms ran out`);
      }, opts.timeoutMs)
    : null;
  const done = new Promise<RawRun>((resolveRun) => {
    let spawnError: Error | null = null;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (DEBUG) process.stderr.write(`nfscope-debug: ${(performance.now() - t0).toFixed(0)} ms, exit ${code ?? signal}: ${argv.join(' ').slice(0, 300)}\n`);
      lines?.end();
      resolveRun({
        argv,
        stdout: out.text(),
        stderr: err.text() + atKill + (spawnError ? `${spawnError.message}\n` : ''),
        ...(opts.stream ? { dropped: { stdoutBytes: out.dropped, stderrBytes: err.dropped, overlongLines: lines?.overlong ?? 0 } } : {}),
        exitCode: spawnError ? 127 : code,
        signal: signal ?? undefined,
        timedOut,
        durationMs: performance.now() - t0,
      });
    });
  });
  return { child, done, kill, interrupt: () => signal('SIGINT') };
}

/**
 * The errors that are a file's own answer (Target.readFile's null): absent (ESRCH: /proc/PID of a
 * task that went as it was read) or refused to this user. Any other is thrown, with the path.
 */
const FILE_ANSWERS = new Set(['ENOENT', 'ENOTDIR', 'ESRCH', 'EACCES', 'EPERM']);
function absentOrRefused(e: unknown, path: string): null {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== undefined && FILE_ANSWERS.has(code)) return null;
  throw new Error(`reading ${path}: ${(e as Error).message}`);
}

/** Signals a terminal sends to its foreground process group. */
const TERMINAL_SIGNALS = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP']);

/**
 * util-linux setpriv: a tracer started through it gets SIGKILL from the
 * kernel when nfscope dies, even by SIGKILL (PR_SET_PDEATHSIG survives exec).
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/**
 * Runs "$@" only if its parent is still the pid in $0. PR_SET_PDEATHSIG armed after the parent
 * died is never delivered: nfscope SIGKILLed between the fork and setpriv's prctl left its child
 * running for good, unjournaled (1 in 100 with the CPUs busy, 6.18, util-linux 2.38 setpriv, which
 * does not check). $PPID is read once the signal is armed
 * (at the shell's start, after setpriv's prctl): if nfscope is gone by then, argv never starts.
 * A fixed script; argv is its positional parameters, never shell text.
 */
const PARENT_STILL_THERE = '[ "$PPID" = "$0" ] || exit 125; exec "$@"';

/** argv run so that it gets SIGKILL when nfscope dies, or never starts if it died first (where setpriv exists). */
export function underPdeathsig(argv: string[]): string[] {
  // The script would exec nothing and exit 0: an empty argv is a caller's bug, said here.
  if (argv.length === 0) throw new Error('empty argv');
  return SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', '/bin/sh', '-c', PARENT_STILL_THERE, String(process.pid), ...argv] : argv;
}

/**
 * Processes started before nfscope's modules were loaded (src/prestart.ts: the argvs the last
 * identical command spawned), each waiting for a spawn of exactly its argv to adopt it. What an
 * adopted process prints is what a process started at the spawn would have printed: same argv,
 * same options (none), same process group and pdeathsig; only earlier. One never adopted is
 * killed when nfscope exits, like any child (track).
 */
interface Prestarted extends Started { buffered: string[]; emit: ((l: string) => void) | null; overflow: boolean }
const prestarted = new Map<string, Prestarted[]>();
const spawned: string[][] = [];
/** A listing prints a few hundred lines; a process that printed more before its adoption is not adopted. */
const PRESTART_MAX_LINES = 100_000;

export function prestart(argv: string[]): void {
  const p = { buffered: [], emit: null, overflow: false } as unknown as Prestarted;
  const lines = new LineSplitter((l) => {
    if (p.emit) p.emit(l);
    else if (p.buffered.length < PRESTART_MAX_LINES) p.buffered.push(l);
    else p.overflow = true;
  });
  Object.assign(p, start(underPdeathsig(argv), {}, true, lines));
  const k = JSON.stringify(argv);
  prestarted.set(k, [...(prestarted.get(k) ?? []), p]);
}

function takePrestarted(argv: string[]): Running | null {
  const p = prestarted.get(JSON.stringify(argv))?.shift();
  if (DEBUG) process.stderr.write(`nfscope-debug: ${p && !p.overflow ? 'adopted a prestarted' : 'no prestarted'} ${argv[0]} at ${performance.now().toFixed(0)} ms\n`);
  if (!p) return null;
  if (p.overflow) {
    p.kill(null);
    return null;
  }
  const h = runningHandle(argv, p.done, (sig, explain) => {
    if (sig === 'KILL') p.kill(explain ? 'when nfscope sent SIGKILL' : null);
    else p.interrupt();
  });
  // The lines printed before the adoption go to the first listener, when it is added, in order;
  // after that, lines go to the listeners as they come (as for a process spawned now).
  let replayed = false;
  return {
    ...h.running,
    pid: p.child.pid,
    onLine: (cb) => {
      h.running.onLine(cb);
      if (replayed) return;
      replayed = true;
      for (const l of p.buffered) h.emit(l);
      p.buffered = [];
      p.emit = h.emit;
    },
  };
}

/** Ends the prestarted processes no spawn adopted (their argv was not this run's): nothing waits on them. */
export function dropPrestarted(): void {
  for (const ps of prestarted.values()) for (const p of ps) p.kill(null);
  prestarted.clear();
}

/** Every argv this process has spawned on this machine, in order (what src/prestart.ts keeps). */
export function spawnedArgvs(): string[][] {
  return [...spawned];
}

/** The machine nfscope runs on. argv is never shell text: the parameters of underPdeathsig's fixed script, which execs it. */
export class LocalTarget implements Host {
  readonly name = 'local';
  readonly journalSpec = 'local';
  readonly uid = process.getuid?.();

  async exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    // Own process group (detached: setsid): the terminal's Ctrl-C goes to nfscope's group only, so a
    // second Ctrl-C during teardown no longer kills the undo command in flight (`ip netns del`,
    // `iptables -D`, issue 26). nfscope's own handler decides; the exit hook still ends what is left.
    // Under pdeathsig too: a command's timeout is nfscope's timer, so a command that outlived a
    // SIGKILLed nfscope (a workload, a read that hangs) would run unbounded. Its run is reported
    // with the argv asked for, not the wrapper's (2-3 ms more a command, 6.18).
    for (let attempt = 1; ; attempt++) {
      const r = { ...(await start(underPdeathsig(argv), opts, true).done), argv };
      // libuv (Node 20) forks with every signal blocked and calls setsid() in the child: a Ctrl-C to
      // nfscope's group in between stays pending in the child and kills it when the mask is reset,
      // just before execve. So a terminal signal here means the command never ran (after setsid the
      // group's signals cannot reach it): run it again. Seen with a Ctrl-C every 25 ms during teardown.
      if (r.exitCode === null && !r.timedOut && TERMINAL_SIGNALS.has(r.signal ?? '') && attempt < 5) continue;
      return r;
    }
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    spawned.push(argv);
    const pre = Object.keys(opts).length === 0 ? takePrestarted(argv) : null;
    if (pre) return pre;
    // Own process group: a Ctrl-C at the terminal reaches nfscope only, which
    // then stops the tracer itself, in order, instead of racing it.
    let emit: (l: string) => void = () => {};
    const lines = new LineSplitter((l) => emit(l));
    const { child, done, kill, interrupt } = start(underPdeathsig(argv), opts, true, lines);
    const h = runningHandle(argv, done, (sig, explain) => {
      if (sig === 'KILL') kill(explain ? 'when nfscope sent SIGKILL' : null);
      else interrupt();
    });
    emit = h.emit;
    return { ...h.running, pid: child.pid };
  }

  /**
   * A process that outlives nfscope (the VM of `nfscope vm up`): own session,
   * no pipes, not killed when nfscope exits. Returns its pid with the handle.
   */
  spawnDaemon(argv: string[]): Running & { pid: number } {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { stdio: 'ignore', detached: true });
    child.unref();
    const done = new Promise<RawRun>((res) => child.on('close', (code, signal) =>
      res({ argv, stdout: '', stderr: '', exitCode: code, signal: signal ?? undefined, timedOut: false, durationMs: 0 })));
    // Its own session and process group (detached): a signal goes to the whole group, so that
    // under a wrapper (`timeout` for the VM's TTL) the process it runs gets it too.
    const { running } = runningHandle(argv, done, (sig) => {
      try {
        process.kill(-child.pid!, `SIG${sig}`);
      } catch {
        // ESRCH: the group is gone already; done resolves (or has) from its close.
      }
    });
    return { ...running, pid: child.pid! };
  }

  async readFile(path: string): Promise<string | null> {
    return (await this.readFileBuffer(path))?.toString('utf8') ?? null;
  }

  async readFileBuffer(path: string): Promise<Buffer | null> {
    try {
      // sysfs hands out a page per read(2), and fs.promises.readFile makes each read a thread-pool
      // round trip: the kernel's BTF (5.5 MB, /sys/kernel/btf/vmlinux, on the path of every
      // bpftrace program nfscope adapts) took 55-75 ms that way and 5 ms with one blocking read
      // loop (6.18, Node 20). Only BTF: a blob already in memory. Other kernel files may take long
      // to make (a function_graph instance's trace under TCG) and must not stop the event loop.
      return BTF_FILE.test(path) ? readFileSync(path) : await readFile(path);
    } catch (e) {
      return absentOrRefused(e, path);
    }
  }

  async listDir(path: string): Promise<string[] | null> {
    try {
      return await readdir(path);
    } catch (e) {
      return absentOrRefused(e, path);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await access(path);
      return true;
    } catch (e) {
      // No such path, or one this user may not look through: not there for it (Target.exists).
      return absentOrRefused(e, path) ?? false;
    }
  }

  /** A program's path, as `command -v` finds it: a name along PATH (and the sbin directories), a path with a slash as it is. */
  async which(program: string): Promise<string | null> {
    const dirs = program.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']).filter(Boolean);
    for (const d of dirs) {
      const p = d ? join(d, program) : program;
      try {
        await access(p, constants.X_OK);
        return p;
      } catch {
        /* next */
      }
    }
    return null;
  }

  async bundled(rel: string): Promise<string> {
    return join(PACKAGE_ROOT, rel);
  }

  async close(): Promise<void> {}
}
