/**
 * A flight recorder for targets: every call a command makes of its target (exec, spawn and the
 * lines and exit of what it spawned, file reads) and what came back, in the order it happened.
 * `NFSCOPE_RECORD=FILE nfscope …` writes one (gzip'd JSON, private, temp+rename); `--target
 * replay:FILE` (targets/replay.ts) serves it back, so a command's text and JSON can be tested
 * without a kernel, and a user's odd run can be replayed where it can be read.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { setRunRandom } from '../lib/run-random.js';
import { checkReportTarget, writeFileAtomic } from '../lib/safe-write.js';
import type { ExecOptions, RawRun, Running, Target } from './target.js';

export const RECORDING_VERSION = 2;

/** The calls a recording holds besides spawn; each is answered by one `done`. */
export type RecordedOp = 'exec' | 'readFile' | 'readFileBuffer' | 'listDir' | 'exists' | 'which' | 'bundled' | 'kernelBtf';

export type RecEvent =
  | { t: 'call'; id: number; op: RecordedOp; args: unknown[] }
  /** A call's answer: Buffers as { base64 }, or as { blob: sha256 } in blobs/ beside the recording when large (BTF). */
  | { t: 'done'; id: number; result: unknown }
  | { t: 'spawn'; id: number; argv: string[]; opts: { stream?: boolean } }
  | { t: 'line'; id: number; line: string }
  /** The caller asked the spawned process to stop (its grace), and what stop() returned. */
  | { t: 'stop'; id: number; graceMs: number | null }
  | { t: 'stopped'; id: number; result: RawRun }
  | { t: 'exit'; id: number; result: RawRun }
  /** A call that threw (a transport error): the replay throws the same message. */
  | { t: 'error'; id: number; message: string };

export interface Recording {
  v: number;
  meta: {
    /** nfscope's argv (after `nfscope`). */
    argv: string[];
    /** The recorded target's name: the replay answers to it, so the command takes the same paths. */
    target: string;
    /** The uid commands ran as there, when the target knew it without asking (local). */
    uid: number | null;
    /** nfscope's pid and this machine's name: the two parts of a run's names that are not drawn (lib/run-random.ts). */
    pid: number;
    host: string;
    recorded: string;
    nfscope: string;
  };
  events: RecEvent[];
  /** The run's random draws (lib/run-random.ts), hex, in order: a replay draws them again. */
  random: string[];
}

/** Buffers past this size are kept once, by content, in blobs/ beside the recording (several recordings of one kernel share its BTF). */
export const BLOB_MIN_BYTES = 1 << 20;

/** Where a recording's large buffers are: blobs/SHA256.gz beside it. */
export function blobPath(recording: string, sha: string): string {
  return join(dirname(recording), 'blobs', `${sha}.gz`);
}

/** Only what a spawn's options change about its output is kept (not timeouts, not env). */
function spawnOpts(o: ExecOptions | undefined): { stream?: boolean } {
  return o?.stream ? { stream: true } : {};
}

/** Only argv and stdin identify an exec (timeouts and env do not change what it answered). */
function execArgs(argv: string[], o: ExecOptions | undefined): unknown[] {
  return o?.input !== undefined ? [argv, o.input] : [argv];
}

export class RecordingTarget implements Target {
  readonly events: RecEvent[] = [];
  private next = 1;
  private blobs = new Map<string, Buffer>();
  private readonly random: string[] = [];
  readonly name: string;
  readonly journalSpec?: string;
  readonly uid?: number;
  readonly disposable?: boolean;
  kernelBtf?: () => Promise<Buffer | null>;

  constructor(private readonly inner: Target, private readonly file: string, private readonly version: string) {
    this.name = inner.name;
    this.journalSpec = inner.journalSpec;
    this.uid = inner.uid;
    this.disposable = inner.disposable;
    if (inner.kernelBtf) this.kernelBtf = () => this.call('kernelBtf', [], () => inner.kernelBtf!());
    const draw = setRunRandom((n) => {
      const b = draw(n);
      this.random.push(b.toString('hex'));
      return b;
    });
  }

  private async call<T>(op: RecordedOp, args: unknown[], f: () => Promise<T>): Promise<T> {
    const id = this.next++;
    this.events.push({ t: 'call', id, op, args });
    let result: T;
    try {
      result = await f();
    } catch (e) {
      this.events.push({ t: 'error', id, message: (e as Error).message });
      throw e;
    }
    this.events.push({ t: 'done', id, result: this.encode(result) });
    return result;
  }

  private encode(v: unknown): unknown {
    if (!Buffer.isBuffer(v)) return v;
    if (v.length < BLOB_MIN_BYTES) return { base64: v.toString('base64') };
    const sha = createHash('sha256').update(v).digest('hex');
    this.blobs.set(sha, v);
    return { blob: sha };
  }

  exec(argv: string[], opts?: ExecOptions): Promise<RawRun> {
    return this.call('exec', execArgs(argv, opts), () => this.inner.exec(argv, opts));
  }

  spawn(argv: string[], opts?: ExecOptions): Running {
    const id = this.next++;
    this.events.push({ t: 'spawn', id, argv, opts: spawnOpts(opts) });
    const r = this.inner.spawn(argv, opts);
    r.onLine((line) => this.events.push({ t: 'line', id, line }));
    void r.done.then((result) => this.events.push({ t: 'exit', id, result }));
    let stopping: Promise<RawRun> | null = null;
    return {
      argv: r.argv,
      ...(r.pid !== undefined ? { pid: r.pid } : {}),
      done: r.done,
      onLine: (cb) => r.onLine(cb),
      stop: (graceMs?: number) => {
        stopping ??= (async () => {
          this.events.push({ t: 'stop', id, graceMs: graceMs ?? null });
          const result = await r.stop(graceMs);
          this.events.push({ t: 'stopped', id, result });
          return result;
        })();
        return stopping;
      },
    };
  }

  readFile(path: string): Promise<string | null> {
    return this.call('readFile', [path], () => this.inner.readFile(path));
  }

  readFileBuffer(path: string): Promise<Buffer | null> {
    return this.call('readFileBuffer', [path], () => this.inner.readFileBuffer(path));
  }

  listDir(path: string): Promise<string[] | null> {
    return this.call('listDir', [path], () => this.inner.listDir(path));
  }

  exists(path: string): Promise<boolean> {
    return this.call('exists', [path], () => this.inner.exists(path));
  }

  which(program: string): Promise<string | null> {
    return this.call('which', [program], () => this.inner.which(program));
  }

  bundled(rel: string): Promise<string> {
    return this.call('bundled', [rel], () => this.inner.bundled(rel));
  }

  /** Closes the target, then writes the recording (what the close itself did included). */
  async close(): Promise<void> {
    await this.inner.close();
    const rec: Recording = {
      v: RECORDING_VERSION,
      meta: { argv: process.argv.slice(2), target: this.name, uid: this.uid ?? null, pid: process.pid, host: hostname(), recorded: new Date().toISOString(), nfscope: this.version },
      events: this.events,
      random: this.random,
    };
    // Private (0600): a recording holds what the machine answered (addresses, symbols, rules).
    const full = await checkReportTarget(this.file);
    for (const [sha, buf] of this.blobs) {
      const path = blobPath(full, sha);
      if (existsSync(path)) continue; // the same content, named by its hash
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      await writeFileAtomic(path, gzipSync(buf), async () => {}, 0o600);
    }
    await writeFileAtomic(full, gzipSync(JSON.stringify(rec)), async () => {}, 0o600);
  }
}
