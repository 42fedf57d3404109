import type { AgentClient } from '../vm/agent-client.js';
import { ExecBackedTarget } from './exec-backed.js';
import { runningHandle } from './running.js';
import type { ExecOptions, RawRun, Running } from './target.js';

/**
 * A target served by nfscope's agent (scripts/vm/agent.py): the micro-VM over
 * its serial port, ssh and vagrant over one ssh session. argv goes to execve
 * on the far side; nothing is shell text.
 */
export abstract class AgentBackedTarget extends ExecBackedTarget {
  /** The agent, connected (may start it on first use). */
  protected abstract agent(): Promise<AgentClient>;
  /** The timeout every run gets when the caller gives none (a remote run is always bounded), or none. */
  protected defaultTimeoutMs: number | undefined = undefined;

  async exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    const extra: Record<string, unknown> = {};
    const timeout = opts.timeoutMs ?? this.defaultTimeoutMs;
    if (timeout) extra.timeout = timeout;
    if (opts.input !== undefined) extra.input = opts.input;
    return (await this.agent()).request('exec', argv, extra).done;
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    const lines: string[] = [];
    let emit: (l: string) => void = () => {};
    const timeout = opts.timeoutMs ?? this.defaultTimeoutMs;
    const started = this.agent().then((agent) => {
      const r = agent.request('spawn', argv, timeout ? { timeout } : {}, (l) => {
        lines.push(l);
        emit(l);
      });
      return { agent, id: r.id, done: r.done };
    });
    // The agent streams stdout as lines; hand the whole of it back at the end too.
    const done: Promise<RawRun> = started.then(
      (s) => s.done.then((r) => ({ ...r, stdout: lines.join('\n') + (lines.length ? '\n' : '') })),
      (e: Error) => ({ argv, stdout: '', stderr: `${e.message}\n`, exitCode: 127, timedOut: false, durationMs: 0 }),
    );
    const h = runningHandle(argv, done, async (sig) => {
      const s = await started.catch(() => null);
      s?.agent.signal(s.id, sig);
    });
    emit = h.emit;
    return h.running;
  }
}
