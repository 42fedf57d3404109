import { connect, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { RawRun } from '../lib/target.js';
import { delay } from '../lib/time.js';
import { MAX_JSON_LINE, parseJsonBounded } from '../parsers/json-guard.js';

type Msg = { id: number; op: string; [k: string]: unknown };

/**
 * Says why the far side went away or stopped answering, from evidence the
 * agent cannot give: for the micro-VM, qemu's exit status and the guest
 * console's lines that matter (vm/boot.ts). One line each.
 */
export interface GuestWitness {
  /** The guest hung up (qemu exited, or is exiting): why. */
  gone(): Promise<string>;
  /** A request got no answer by its deadline: what the guest is doing (qemu still runs). */
  silent(): Promise<string>;
}

/**
 * How long past its own deadline a request may go unanswered before the host
 * gives up on it: the agent kills the command at its deadline and answers at
 * once; under TCG on a loaded 2-core host that answer took seconds, not tens.
 * Past this the guest itself is not answering (a lockup, a stall).
 */
export const ANSWER_GRACE_MS = 30_000;
/** A put writes one bundled file (a few KB) in the agent's private directory: seconds at most. */
const PUT_DEADLINE_MS = 30_000;
/**
 * The longest line the agent may send: its largest is an exec's answer, the output base64'd
 * (4/3) in one line, and no command nfscope runs prints 24 MiB (the kernel's BTF, 5.5 MB, is the
 * largest file read through it). The bound JSON texts have anyway (parsers/json-guard.ts). Past
 * it the far side is not the agent, or is broken: the client hangs up with that reason instead of
 * buffering without end.
 */
export const MAX_AGENT_LINE = MAX_JSON_LINE;
/** The agent's messages are flat objects (depth 1); anything deeper is not the agent. */
export const MAX_AGENT_DEPTH = 4;
/** Longest the witness may take to explain (it waits for qemu to exit, then reads the console). */
const WITNESS_MS = 20_000;

/**
 * The host side of payload/vm/agent.py: JSON lines over the VM's second
 * serial port (a unix socket qemu offers), or over an ssh session's stdio.
 */
export class AgentClient {
  private out: Writable | null = null;
  private hangUp: (() => void) | null = null;
  /** The part of a line not yet ended, in pieces (joined once: a long line is not copied per chunk). */
  private pending: string[] = [];
  private pendingLen = 0;
  // Ids unique across clients: a VM left up by `nfscope vm up` serves many nfscope runs in turn.
  private nextId = 1 + Math.floor(Math.random() * 1e9);
  private waiters = new Map<number, (m: Msg) => void>();
  /** What each unanswered request is and since when: said when a caller's own budget runs out. */
  private asked = new Map<number, { op: string; argv: string[]; at: number }>();
  private lineCbs = new Map<number, (l: string) => void>();
  private hello: Promise<Msg>;
  private resolveHello!: (m: Msg) => void;
  closed = false;
  /** Explains a hang-up or a silence; without one, the messages say only what happened. */
  witness: GuestWitness | null = null;
  /** How long past a request's own deadline its answer may be late (ANSWER_GRACE_MS; tests shorten it). */
  answerGraceMs = ANSWER_GRACE_MS;
  private goneMessage = 'the VM went away';
  private goneWhy: Promise<string> | null = null;

  constructor() {
    this.hello = new Promise((r) => (this.resolveHello = r));
  }

  /** Connects, retrying while qemu has not created the socket yet. */
  async connect(path: string, deadline: number): Promise<void> {
    let sock: Socket;
    for (;;) {
      try {
        sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    this.attach(sock, sock, () => sock.destroy());
  }

  /** Serves requests over any byte stream pair (an ssh child's stdout and stdin). */
  attach(input: Readable, output: Writable, hangUp: () => void, goneMessage = 'the VM went away'): void {
    this.out = output;
    this.hangUp = hangUp;
    input.setEncoding('utf8');
    input.on('data', (d: string) => this.onData(d));
    this.goneMessage = goneMessage;
    input.on('close', () => this.failAll());
    input.on('error', () => {});
    output.on('error', () => {});
  }

  /** Every request waiting gets the far side's departure as its answer. */
  private failAll(): void {
    this.closed = true;
    const waiting = [...this.waiters.values()];
    this.waiters.clear();
    this.lineCbs.clear();
    if (!waiting.length) return;
    void this.whyGone().then((why) => {
      for (const w of waiting) w({ id: -1, op: 'exit', code: null, signal: 'VMGONE', stdout: '', stderr: Buffer.from(`${why}\n`).toString('base64'), timedOut: false, ms: 0 });
    });
  }

  /** The far side sent what the agent never sends: every request fails with why, and the client hangs up. */
  private broken(why: string): void {
    if (this.closed) return;
    this.goneWhy = Promise.resolve(`the far side broke the agent protocol: ${why}`);
    this.pending = [];
    this.pendingLen = 0;
    this.failAll();
    this.hangUp?.();
  }

  private onData(d: string): void {
    if (this.closed) return;
    let start = 0;
    let i: number;
    while ((i = d.indexOf('\n', start)) >= 0) {
      if (this.pendingLen + i - start > MAX_AGENT_LINE) return this.broken(`a line longer than ${MAX_AGENT_LINE >> 20} MiB`);
      this.pending.push(d.slice(start, i));
      start = i + 1;
      const line = this.pending.join('');
      this.pending = [];
      this.pendingLen = 0;
      let m: Msg;
      try {
        m = parseJsonBounded(line, 'agent message', 0, MAX_AGENT_DEPTH) as Msg;
      } catch (e) {
        // Noise before the agent put the line in raw mode is not JSON and is skipped; JSON nested
        // past any message of the agent's is not noise.
        if (/nested deeper/.test((e as Error).message)) return this.broken(`a message nested deeper than ${MAX_AGENT_DEPTH}`);
        continue;
      }
      if (typeof m !== 'object' || m === null) continue;
      if (m.op === 'hello') this.resolveHello(m);
      else if (m.op === 'line') this.lineCbs.get(m.id)?.(String(m.data));
      else if (m.op === 'exit' || m.op === 'bye' || m.op === 'error') {
        const w = this.waiters.get(m.id);
        this.waiters.delete(m.id);
        this.lineCbs.delete(m.id);
        w?.(m);
      }
    }
    if (start < d.length) {
      this.pendingLen += d.length - start;
      if (this.pendingLen > MAX_AGENT_LINE) return this.broken(`a line longer than ${MAX_AGENT_LINE >> 20} MiB`);
      this.pending.push(d.slice(start));
    }
  }

  /** "the VM went away: <the witness's account>", asked once (a dead guest's account does not change). */
  private whyGone(): Promise<string> {
    const w = this.witness;
    return (this.goneWhy ??= w
      ? Promise.race([w.gone(), delay(WITNESS_MS, `no account of it within ${WITNESS_MS / 1000} s`)]).then((why) => `${this.goneMessage}: ${why}`)
      : Promise.resolve(this.goneMessage));
  }

  private async whySilent(): Promise<string> {
    const w = this.witness;
    return w ? Promise.race([w.silent(), delay(WITNESS_MS, `no account of it within ${WITNESS_MS / 1000} s`)]) : 'the far side sent nothing';
  }

  waitHello(timeoutMs: number): Promise<Msg | null> {
    return Promise.race([this.hello, delay(timeoutMs, null)]);
  }

  private send(m: Record<string, unknown>): void {
    if (!this.closed) this.out?.write(JSON.stringify(m) + '\n');
  }

  request(op: 'exec' | 'spawn' | 'put', argv: string[], extra: Record<string, unknown>, onLine?: (l: string) => void): { id: number; done: Promise<RawRun> } {
    const id = this.nextId++;
    if (onLine) this.lineCbs.set(id, onLine);
    this.asked.set(id, { op, argv, at: Date.now() });
    // The agent enforces the command's deadline inside the guest; this one holds when the guest
    // itself stops answering. A put (a file written by the agent itself) gets one too; a spawn
    // without a deadline is bounded by its caller (a tracer's stop(), targets/running.ts).
    const own = typeof extra.timeout === 'number' ? extra.timeout : op === 'put' ? PUT_DEADLINE_MS : null;
    const deadline = own === null ? null : own + this.answerGraceMs;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<RawRun>((resolve) => {
      if (deadline !== null) {
        timer = setTimeout(() => {
          if (!this.waiters.delete(id)) return;
          this.lineCbs.delete(id);
          this.asked.delete(id);
          this.send({ id, op: 'signal', sig: 'KILL' });
          void this.whySilent().then((why) => resolve({
            argv, stdout: '', exitCode: null, timedOut: true, durationMs: deadline,
            stderr: `the guest did not answer within ${deadline / 1000} s (the command's own deadline was ${own! / 1000} s): ${why}\n`,
          }));
        }, deadline);
        timer.unref();
      }
      this.waiters.set(id, (m) => {
        clearTimeout(timer);
        this.asked.delete(id);
        const dec = (v: unknown) => Buffer.from(String(v ?? ''), 'base64').toString('utf8');
        resolve({
          argv, stdout: dec(m.stdout), stderr: m.op === 'error' ? String(m.message) : dec(m.stderr),
          exitCode: (m.code as number | null) ?? (m.op === 'error' ? 1 : null), signal: (m.signal as string | null) ?? undefined,
          timedOut: Boolean(m.timedOut), durationMs: Number(m.ms ?? 0),
        });
      });
    });
    if (this.closed) {
      const w = this.waiters.get(id);
      this.waiters.delete(id);
      void this.whyGone().then((why) => w?.({ id, op: 'exit', code: null, signal: 'VMGONE', stdout: '', stderr: Buffer.from(`${why}\n`).toString('base64'), timedOut: false, ms: 0 }));
    } else this.send({ id, op, argv, ...extra });
    return { id, done };
  }

  /** The requests still unanswered, oldest first: "exec argv… (for N s)". */
  unanswered(): string[] {
    const now = Date.now();
    return [...this.asked.values()].map((a) => `${a.op} ${a.argv.join(' ').slice(0, 200)} (for ${Math.round((now - a.at) / 1000)} s)`);
  }

  /** What the guest is doing now, from its console (the witness), bounded like a silent request's account. */
  account(): Promise<string> {
    return this.whySilent();
  }

  /** explain (KILL): the agent keeps what the process group's tasks were doing, in its stderr. */
  signal(id: number, sig: 'INT' | 'TERM' | 'KILL', explain = true): void {
    this.send({ id, op: 'signal', sig, ...(explain ? {} : { explain: false }) });
  }

  /** Leaves the VM running (a VM of `nfscope vm up`): just hangs up. */
  disconnect(): void {
    this.hangUp?.();
    this.closed = true;
  }

  async shutdown(timeoutMs: number): Promise<void> {
    if (this.closed || !this.out) return;
    const bye = new Promise<void>((r) => this.waiters.set(0, () => r()));
    this.send({ id: 0, op: 'shutdown' });
    await Promise.race([bye, delay(timeoutMs, undefined)]);
    // No bye in time: the caller kills the VM; the hang-up below is not a death to explain.
    this.waiters.delete(0);
    this.hangUp?.();
  }
}
