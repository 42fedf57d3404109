/**
 * `--target replay:FILE`: a recording (targets/recording.ts) served back. The events are walked
 * in their recorded order: a call the command made is answered when the walk reaches the
 * recorded answer of the call it matches, a spawned process's lines and exit come when the walk
 * reaches them, and the walk waits where the recording has the command asking for something it
 * has not asked yet. A command that asks what the recording does not hold, or stops asking, fails
 * with what the recording expected: never an invented answer.
 *
 * Calls match by operation and arguments, exactly: the run's random names are the recorded run's
 * (lib/run-random.ts), and nfscope's pid and the host's name, the only other parts that differ
 * between two runs of one command, are put back to the recorded ones before matching. The replay
 * answers only the command the recording is of (its argv but for --target and --json), and a run
 * that did not ask everything the recording holds fails at its end (assertConsumed).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { UsageError } from '../lib/errors.js';
import { setRunRandom } from '../lib/run-random.js';
import { RECORDING_VERSION, blobPath, type RecEvent, type RecordedOp, type Recording } from './recording.js';
import type { ExecOptions, RawRun, Running, Target } from './target.js';

/**
 * How long the walk may wait for the command to ask what the recording has it ask next (the
 * command's own timers run in real time: a follow --duration longer than this does not replay).
 * NFSCOPE_REPLAY_STALL_MS: tests only.
 */
export const REPLAY_STALL_MS = Number(process.env.NFSCOPE_REPLAY_STALL_MS) > 0 ? Number(process.env.NFSCOPE_REPLAY_STALL_MS) : 20_000;

/** The recording cannot answer what the command asked: exit 5, like a command that failed on a real target. */
export class ReplayError extends Error {
  readonly exitCode = 5;
  constructor(message: string) {
    super(message);
    this.name = 'ReplayError';
  }
}

type Handle = {
  argv: string[];
  emit: (l: string) => void;
  exit: (r: RawRun) => void;
  exited: RawRun | null;
  stopAsked: boolean;
  stopped: (r: RawRun) => void;
};
type Asked = { op: RecordedOp | 'spawn'; key: string; answer: (v: unknown) => void; fail: (e: Error) => void; handle?: Handle };

/** Largest a recording or blob may unpack to: a recording nfscope wrote is far smaller. */
const MAX_UNPACKED = 512 << 20;

/** A recorded answer as the command gets it: Buffers back from base64, or from their blob. */
function decode(v: unknown, file: string): unknown {
  if (!v || typeof v !== 'object') return v;
  if ('base64' in v && typeof v.base64 === 'string') return Buffer.from(v.base64, 'base64');
  if ('blob' in v && typeof v.blob === 'string' && /^[0-9a-f]{64}$/.test(v.blob)) {
    const buf = gunzipSync(readFileSync(blobPath(file, v.blob)), { maxOutputLength: MAX_UNPACKED });
    if (createHash('sha256').update(buf).digest('hex') !== v.blob) throw new Error(`replay: ${blobPath(file, v.blob)} does not hold the content its name says`);
    return buf;
  }
  return v;
}

/** How a process ends when the replay cannot go on: a failure that says why, never output. */
function failedRun(argv: string[], e: Error): RawRun {
  return { argv, stdout: '', stderr: `${e.message}\n`, exitCode: null, signal: 'REPLAY', timedOut: false, durationMs: 0 };
}

function describe(e: RecEvent): string {
  return (e.t === 'call' ? `${e.op} ${JSON.stringify(e.args)}` : e.t === 'spawn' ? `spawn ${JSON.stringify(e.argv)}` : `${e.t} of process #${e.id}`).slice(0, 300);
}

/** argv without what a replay may change: where it runs and JSON or text. */
function commandOf(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') i++;
    else if (!argv[i]!.startsWith('--target=') && argv[i] !== '--json') out.push(argv[i]!);
  }
  return out;
}

/** The replay answers the command it recorded, and no other (another --port would get the recorded port's answers). */
export function checkSameCommand(rec: Recording, argv: string[]): void {
  const want = commandOf(rec.meta.argv);
  const got = commandOf(argv);
  if (JSON.stringify(want) !== JSON.stringify(got)) {
    throw new UsageError(`--target replay: the recording is of \`nfscope ${want.join(' ')}\` (with --target and --json free), not \`nfscope ${got.join(' ')}\``);
  }
}

export function loadRecording(path: string): Recording {
  let rec: Recording;
  try {
    rec = JSON.parse(gunzipSync(readFileSync(path), { maxOutputLength: MAX_UNPACKED }).toString('utf8')) as Recording;
  } catch (e) {
    throw new UsageError(`--target replay:${path}: not a recording nfscope can read (${(e as Error).message.split('\n')[0]})`);
  }
  if (rec.v !== RECORDING_VERSION || !Array.isArray(rec.events)) throw new UsageError(`--target replay:${path}: recording version ${rec.v}, this nfscope reads ${RECORDING_VERSION}`);
  return rec;
}

export class ReplayTarget implements Target {
  readonly name: string;
  readonly uid?: number;
  private at = 0;
  /** Calls the command made that the walk has not matched yet. */
  private waiting: Asked[] = [];
  /** Recorded id → the command's call it was matched to. */
  private bound = new Map<number, Asked>();
  private handles = new Map<number, Handle>();
  private failed: ReplayError | null = null;
  private closed = false;
  private stall: NodeJS.Timeout | undefined;
  kernelBtf?: () => Promise<Buffer | null>;

  constructor(private readonly rec: Recording, private readonly file: string, private readonly stallMs = REPLAY_STALL_MS) {
    this.name = rec.meta.target;
    if (rec.meta.uid !== null) this.uid = rec.meta.uid;
    if (rec.events.some((e) => e.t === 'call' && e.op === 'kernelBtf')) this.kernelBtf = () => this.ask('kernelBtf', []) as Promise<Buffer | null>;
    // The run's names are the recorded run's: its netns, addresses and tokens are in the answers.
    const draws = [...rec.random];
    setRunRandom((n) => {
      const d = draws.shift();
      if (d === undefined || d.length !== 2 * n) throw new ReplayError(`replay: the command draws ${n} random bytes where the recording has ${d === undefined ? 'no draw left' : `a draw of ${d.length / 2}`}`);
      return Buffer.from(d, 'hex');
    });
  }

  /** Walks the recording as far as the command's calls allow. */
  private walk(): void {
    if (this.failed || this.closed) return;
    for (;;) {
      const e: RecEvent | undefined = this.rec.events[this.at];
      if (!e) break;
      if (e.t === 'call' || e.t === 'spawn') {
        const op = e.t === 'call' ? e.op : 'spawn';
        const args = e.t === 'call' ? e.args : [e.argv, e.opts];
        const key = JSON.stringify(args);
        const i = this.waiting.findIndex((a) => a.op === op && a.key === key);
        if (i < 0) break; // the command has not asked this yet
        const a = this.waiting.splice(i, 1)[0]!;
        this.bound.set(e.id, a);
        if (a.handle) this.handles.set(e.id, a.handle);
      } else if (e.t === 'done') {
        const a = this.bound.get(e.id);
        this.bound.delete(e.id);
        let v: unknown;
        try {
          v = decode(e.result, this.file);
        } catch (err) {
          this.fail(`replay: ${(err as Error).message}`);
          return;
        }
        a?.answer(v);
      } else if (e.t === 'error') {
        const a = this.bound.get(e.id);
        this.bound.delete(e.id);
        a?.fail(new Error(e.message));
      } else if (e.t === 'line') {
        this.handles.get(e.id)?.emit(e.line);
      } else if (e.t === 'exit') {
        this.handles.get(e.id)?.exit(e.result);
      } else if (e.t === 'stop') {
        const h = this.handles.get(e.id);
        if (!h?.stopAsked) break; // until the command stops it (stop() walks on)
      } else if (e.t === 'stopped') {
        this.handles.get(e.id)?.stopped(e.result);
      }
      this.at++;
    }
    clearTimeout(this.stall);
    if (this.at < this.rec.events.length) {
      // Not unref'd: a command waiting only on the replay must get its failure, not an empty event loop's exit.
      this.stall = setTimeout(() => this.stalled(), this.stallMs);
    } else {
      // A stop the recording never saw (asked after the walk's end): the process has exited.
      for (const h of this.handles.values()) if (h.stopAsked && h.exited) h.stopped(h.exited);
      // Asked after the recording's end, or answered past it: it holds no answer, and none is made up.
      const open = [...this.waiting, ...[...this.bound.values()].filter((a) => a.op !== 'spawn')];
      const running = [...this.handles.values()].filter((h) => !h.exited);
      if (open.length || running.length) {
        const what = [...open.map((a) => `${a.op} ${a.key.slice(0, 200)}`), ...running.map((h) => `the exit of ${JSON.stringify(h.argv).slice(0, 200)}`)];
        this.fail(`replay: the recording ends (${this.rec.events.length} events) before its answer to ${what.join('; ')}`);
      }
    }
  }

  /** An asked call's arguments as the recorded run would have written them: its pid and host name. */
  private asRecorded(args: unknown[]): string {
    let key = JSON.stringify(args);
    if (process.pid !== this.rec.meta.pid) key = key.replace(new RegExp(`(?<![0-9])${process.pid}(?![0-9])`, 'g'), String(this.rec.meta.pid));
    const host = hostname();
    if (host !== this.rec.meta.host) key = key.split(host).join(this.rec.meta.host);
    return key;
  }

  /** The command stopped asking what the recording expects next: every call still open fails, saying so. */
  private stalled(): void {
    const e = this.rec.events[this.at]!;
    const want = describe(e);
    const asked = this.waiting.map((a) => `${a.op} ${a.key}`).join('; ') || 'nothing';
    this.fail(`replay: the recording expects ${want} next (event ${this.at + 1} of ${this.rec.events.length}), but in ${this.stallMs / 1000} s the command asked ${asked}`);
  }

  /** Every open call fails with why, and every process still running ends as a failure: never as output. */
  private fail(why: string): void {
    this.failed = new ReplayError(why);
    clearTimeout(this.stall);
    for (const a of [...this.waiting.splice(0), ...this.bound.values()]) a.fail(this.failed);
    this.bound.clear();
    // Processes still running end as failures that say why, never as output.
    const gone = (h: Handle) => failedRun(h.argv, this.failed!);
    for (const h of this.handles.values()) {
      if (!h.exited) h.exit(gone(h));
      h.stopped(h.exited ?? gone(h));
    }
  }

  private ask(op: RecordedOp | 'spawn', args: unknown[], handle?: Handle): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((answer, fail) => {
      this.waiting.push({ op, key: this.asRecorded(args), answer, fail, ...(handle ? { handle } : {}) });
      queueMicrotask(() => this.walk());
    });
  }

  exec(argv: string[], opts?: ExecOptions): Promise<RawRun> {
    return this.ask('exec', opts?.input !== undefined ? [argv, opts.input] : [argv]) as Promise<RawRun>;
  }

  spawn(argv: string[], opts?: ExecOptions): Running {
    const listeners: ((l: string) => void)[] = [];
    const early: string[] = [];
    let exit!: (r: RawRun) => void;
    const done = new Promise<RawRun>((r) => (exit = r));
    let stopped!: (r: RawRun) => void;
    const stopResult = new Promise<RawRun>((r) => (stopped = r));
    const h: Handle = {
      argv,
      emit: (l) => (listeners.length ? listeners.forEach((cb) => cb(l)) : early.push(l)),
      exit: (r) => {
        h.exited ??= r;
        exit(r);
      },
      exited: null, stopped, stopAsked: false,
    };
    // Answered by the walk binding it (the handle then gets its lines); a failed replay ends it.
    this.ask('spawn', [argv, opts?.stream ? { stream: true } : {}], h).catch((e: Error) => {
      const r = failedRun(argv, e);
      h.exit(r);
      h.stopped(h.exited ?? r);
    });
    return {
      argv,
      done,
      onLine: (cb) => {
        listeners.push(cb);
        for (const l of early.splice(0)) cb(l);
      },
      stop: () => {
        if (!h.stopAsked) {
          h.stopAsked = true;
          queueMicrotask(() => this.walk());
        }
        return stopResult;
      },
    };
  }

  readFile(path: string): Promise<string | null> {
    return this.ask('readFile', [path]) as Promise<string | null>;
  }

  readFileBuffer(path: string): Promise<Buffer | null> {
    return this.ask('readFileBuffer', [path]) as Promise<Buffer | null>;
  }

  listDir(path: string): Promise<string[] | null> {
    return this.ask('listDir', [path]) as Promise<string[] | null>;
  }

  exists(path: string): Promise<boolean> {
    return this.ask('exists', [path]) as Promise<boolean>;
  }

  which(program: string): Promise<string | null> {
    return this.ask('which', [program]) as Promise<string | null>;
  }

  bundled(rel: string): Promise<string> {
    return this.ask('bundled', [rel]) as Promise<string>;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.stall);
  }

  /**
   * After the run: it failed, or left part of the recording unasked (a step it no longer takes):
   * either way its report is not the recorded run's, and the command fails (exit 5).
   */
  assertConsumed(): void {
    if (this.failed) throw this.failed;
    const e = this.rec.events[this.at];
    if (e) throw new ReplayError(`replay: the run ended with ${this.rec.events.length - this.at} of ${this.rec.events.length} recorded events unasked, the next: ${describe(e)}`);
  }
}
