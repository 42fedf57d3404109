import type { AgentClient } from '../vm/agent-client.js';
import { ExecBackedTarget } from './exec-backed.js';
import { runningHandle } from './running.js';
import type { ExecOptions, RawRun, Running } from './target.js';
import { STREAM_TAIL_BYTES } from '../lib/target.js';

/** Longest a command on a far kernel may run when its caller gives no deadline. */
export const DEFAULT_AGENT_TIMEOUT_MS = 600_000;

/**
 * A target served by nfscope's agent (payload/vm/agent.py): the micro-VM over
 * its serial port, ssh and vagrant over one ssh session. argv goes to execve
 * on the far side; nothing is shell text.
 */
/** A stream's stderr as the local transport keeps it: its last STREAM_TAIL_BYTES characters. */
function tail(s: string): string {
  return s.length > STREAM_TAIL_BYTES ? `[${s.length - STREAM_TAIL_BYTES} earlier characters not kept]\n${s.slice(-STREAM_TAIL_BYTES)}` : s;
}

export abstract class AgentBackedTarget extends ExecBackedTarget {
  /** The agent, connected (may start it on first use). */
  protected abstract agent(): Promise<AgentClient>;
  /**
   * The deadline of a command whose caller gives none: every command on a far kernel is bounded,
   * inside it by the agent and here by the answer's deadline (vm/agent-client.ts).
   */
  protected defaultTimeoutMs = DEFAULT_AGENT_TIMEOUT_MS;
  /**
   * The deadline of a spawned process whose caller gives none, or none: a tracer runs until its
   * caller stops it (the experiment's window, a user's Ctrl-C), and that stop is bounded
   * (targets/running.ts: SIGINT, SIGKILL, then a failure that says it did not die).
   */
  protected defaultSpawnTimeoutMs: number | undefined = undefined;

  async exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    const extra: Record<string, unknown> = {};
    const timeout = opts.timeoutMs ?? this.defaultTimeoutMs;
    if (timeout) extra.timeout = timeout;
    if (opts.input !== undefined) extra.input = opts.input;
    const t0 = performance.now();
    const r = await (await this.agent()).request('exec', argv, extra).done;
    debugRun(this.name, t0, r, null);
    return r;
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    // A stream (ExecOptions.stream) keeps no lines: its listeners have them (issue 26).
    const lines: string[] = [];
    const keep = !opts.stream;
    let emit: (l: string) => void = () => {};
    const timeout = opts.timeoutMs ?? this.defaultSpawnTimeoutMs;
    const t0 = performance.now();
    let firstLineAt: number | null = null;
    const started = this.agent().then((agent) => {
      const r = agent.request('spawn', argv, timeout ? { timeout } : {}, (l) => {
        firstLineAt ??= performance.now();
        if (keep) lines.push(l);
        emit(l);
      });
      return { agent, id: r.id, done: r.done };
    });
    // The agent streams stdout as lines; hand the whole of it back at the end too (not a stream's:
    // the agent's own answer carries no stdout for a spawn, and a stream's lines were not kept).
    const done: Promise<RawRun> = started.then(
      (s) => s.done.then((r) => (keep ? { ...r, stdout: lines.join('\n') + (lines.length ? '\n' : '') } : { ...r, stdout: '', dropped: { stdoutBytes: 0, stderrBytes: 0, overlongLines: 0 }, stderr: tail(r.stderr) })),
      (e: Error) => ({ argv, stdout: '', stderr: `${e.message}\n`, exitCode: 127, timedOut: false, durationMs: 0 }),
    );
    void done.then((r) => debugRun(this.name, t0, r, firstLineAt));
    const h = runningHandle(argv, done, async (sig, explain) => {
      const s = await started.catch(() => null);
      s?.agent.signal(s.id, sig, explain);
    });
    emit = h.emit;
    return h.running;
  }
}

/**
 * NFSCOPE_DEBUG=1: each command run on the target, when it started (ms since nfscope's start), how
 * long it took, and for a spawned one when its first line came (a tracer's compile and attach).
 */
function debugRun(target: string, t0: number, r: RawRun, firstLineAt: number | null): void {
  if (!process.env.NFSCOPE_DEBUG) return;
  const first = firstLineAt === null ? '' : `, first line after ${(firstLineAt - t0).toFixed(0)} ms`;
  process.stderr.write(`nfscope-debug: ${target}: at ${t0.toFixed(0)} ms, ${(performance.now() - t0).toFixed(0)} ms${first}, exit ${r.exitCode ?? r.signal ?? 'status unknown'}${r.timedOut ? ' (timed out)' : ''}: ${r.argv.join(' ').replace(/\s+/g, ' ').slice(0, 200)}\n`);
}
