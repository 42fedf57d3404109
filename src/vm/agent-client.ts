import { connect, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { RawRun } from '../lib/target.js';
import { delay } from '../lib/time.js';

type Msg = { id: number; op: string; [k: string]: unknown };

/**
 * The host side of scripts/vm/agent.py: JSON lines over the VM's second
 * serial port (a unix socket qemu offers), or over an ssh session's stdio.
 */
export class AgentClient {
  private out: Writable | null = null;
  private hangUp: (() => void) | null = null;
  /** The part of a line not yet ended, in pieces (joined once: a long line is not copied per chunk). */
  private pending: string[] = [];
  // Ids unique across clients: a VM left up by `nfscope vm up` serves many nfscope runs in turn.
  private nextId = 1 + Math.floor(Math.random() * 1e9);
  private waiters = new Map<number, (m: Msg) => void>();
  private lineCbs = new Map<number, (l: string) => void>();
  private hello: Promise<Msg>;
  private resolveHello!: (m: Msg) => void;
  closed = false;

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
    input.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.values()) w({ id: -1, op: 'exit', code: null, signal: 'VMGONE', stdout: '', stderr: Buffer.from(`${goneMessage}\n`).toString('base64'), timedOut: false, ms: 0 });
      this.waiters.clear();
    });
    input.on('error', () => {});
    output.on('error', () => {});
  }

  private onData(d: string): void {
    let start = 0;
    let i: number;
    while ((i = d.indexOf('\n', start)) >= 0) {
      this.pending.push(d.slice(start, i));
      start = i + 1;
      const line = this.pending.join('');
      this.pending = [];
      let m: Msg;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        continue; // noise before the agent put the line in raw mode
      }
      if (m.op === 'hello') this.resolveHello(m);
      else if (m.op === 'line') this.lineCbs.get(m.id)?.(String(m.data));
      else if (m.op === 'exit' || m.op === 'bye' || m.op === 'error') {
        const w = this.waiters.get(m.id);
        this.waiters.delete(m.id);
        this.lineCbs.delete(m.id);
        w?.(m);
      }
    }
    if (start < d.length) this.pending.push(d.slice(start));
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
    const done = new Promise<RawRun>((resolve) => {
      this.waiters.set(id, (m) => {
        const dec = (v: unknown) => Buffer.from(String(v ?? ''), 'base64').toString('utf8');
        resolve({
          argv, stdout: dec(m.stdout), stderr: m.op === 'error' ? String(m.message) : dec(m.stderr),
          exitCode: (m.code as number | null) ?? (m.op === 'error' ? 1 : null), signal: (m.signal as string | null) ?? undefined,
          timedOut: Boolean(m.timedOut), durationMs: Number(m.ms ?? 0),
        });
      });
    });
    if (this.closed) this.waiters.get(id)?.({ id, op: 'error', message: 'the VM is not running' });
    else this.send({ id, op, argv, ...extra });
    return { id, done };
  }

  signal(id: number, sig: 'INT' | 'TERM' | 'KILL'): void {
    this.send({ id, op: 'signal', sig });
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
    this.hangUp?.();
  }
}
