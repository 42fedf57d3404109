import { join } from 'node:path';
import { bootVm, type Vm, type VmOptions } from '../vm/boot.js';
import { PACKAGE_ROOT } from './local.js';
import type { ExecOptions, RawRun, Running } from './target.js';
import { ExecBackedTarget } from './exec-backed.js';

/**
 * The micro-VM as a target: argv runs in the guest through the agent. The
 * guest sees the host's root, so bundled files have the same paths there.
 */
export class QemuTarget extends ExecBackedTarget {
  readonly name = 'qemu';
  private constructor(readonly vm: Vm) {
    super();
  }

  static async boot(o: VmOptions): Promise<QemuTarget> {
    return new QemuTarget(await bootVm(o));
  }

  exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    const extra: Record<string, unknown> = {};
    if (opts.timeoutMs) extra.timeout = opts.timeoutMs;
    if (opts.input !== undefined) extra.input = opts.input;
    return this.vm.agent.request('exec', argv, extra).done;
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    const listeners: ((l: string) => void)[] = [];
    const lines: string[] = [];
    const { id, done: raw } = this.vm.agent.request('spawn', argv, opts.timeoutMs ? { timeout: opts.timeoutMs } : {}, (l) => {
      lines.push(l);
      for (const cb of listeners) cb(l);
    });
    // The agent streams stdout as lines; hand the whole of it back at the end too.
    const done = raw.then((r) => ({ ...r, stdout: lines.join('\n') + (lines.length ? '\n' : '') }));
    let exited = false;
    void done.then(() => (exited = true));
    let stopping: Promise<RawRun> | null = null;
    return {
      argv,
      done,
      onLine: (cb) => listeners.push(cb),
      stop: (graceMs = 3000) => {
        stopping ??= (async () => {
          if (!exited) {
            this.vm.agent.signal(id, 'INT');
            const t = setTimeout(() => this.vm.agent.signal(id, 'KILL'), graceMs);
            const r = await done;
            clearTimeout(t);
            return r;
          }
          return done;
        })();
        return stopping;
      },
    };
  }

  async bundled(rel: string): Promise<string> {
    return join(PACKAGE_ROOT, rel);
  }

  close(): Promise<void> {
    return this.vm.shutdown();
  }
}
