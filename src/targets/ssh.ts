import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { shellQuote } from '../lib/errors.js';
import { ExecBackedTarget } from './exec-backed.js';
import { LocalTarget, PACKAGE_ROOT } from './local.js';
import type { SshSpec } from './ssh-spec.js';
import type { ExecOptions, RawRun, Running } from './target.js';
import { runningHandle } from './running.js';

/** Longest a remote command may run when the caller gives no timeout: every remote run is bounded. */
const DEFAULT_REMOTE_S = 600;

/**
 * A remote kernel over ssh. The only place in nfscope that builds shell text:
 * ssh hands its command to the remote user's shell, so each argv element is
 * quoted with shellQuote (single quotes, POSIX), tested with hostile strings.
 * Every remote command runs under `timeout`, so a lost connection or a
 * Ctrl-C that ssh does not forward still ends it.
 */
export class SshTarget extends ExecBackedTarget {
  readonly name: string;
  readonly journalSpec: string;
  private local = new LocalTarget();
  private control: string;
  private bundleDir: string | null = null;

  /** sudo: run remote commands with `sudo -n` (the Vagrant VM logs in as 'vagrant'). */
  constructor(readonly spec: SshSpec, private extraOpts: string[] = [], private sudo = false) {
    super();
    this.name = `ssh://${spec.user ? `${spec.user}@` : ''}${spec.host}${spec.port ? `:${spec.port}` : ''}`;
    this.journalSpec = sudo ? 'vagrant' : this.name;
    mkdirSync('/run/nfscope', { recursive: true });
    this.control = `/run/nfscope/ssh-${process.pid}-%C`;
  }

  /** ssh's own options: batch mode (never a password prompt), one shared connection. */
  sshArgv(): string[] {
    const s = this.spec;
    const id = process.env.NFSCOPE_SSH_IDENTITY;
    const kh = process.env.NFSCOPE_SSH_KNOWN_HOSTS;
    return [
      'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'StrictHostKeyChecking=accept-new',
      '-o', 'ControlMaster=auto', '-o', `ControlPath=${this.control}`, '-o', 'ControlPersist=30',
      ...(kh ? ['-o', `UserKnownHostsFile=${kh}`] : []),
      ...(id ? ['-i', id] : []),
      ...(s.port ? ['-p', String(s.port)] : []),
      ...this.extraOpts,
      ...(s.user ? ['-l', s.user] : []),
      '--', s.host,
    ];
  }

  /** The remote command line: argv under timeout, each word quoted. */
  static remoteCommand(argv: string[], seconds: number, sudo = false): string {
    return [...(sudo ? ['sudo', '-n'] : []), 'timeout', '--signal=INT', '--kill-after=5', String(seconds), ...argv].map(shellQuote).join(' ');
  }

  exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    const secs = Math.ceil((opts.timeoutMs ?? DEFAULT_REMOTE_S * 1000) / 1000);
    return this.local
      .exec([...this.sshArgv(), SshTarget.remoteCommand(argv, secs, this.sudo)], { timeoutMs: (secs + 15) * 1000, input: opts.input })
      .then((r) => ({ ...r, argv }));
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    const secs = Math.ceil((opts.timeoutMs ?? DEFAULT_REMOTE_S * 1000) / 1000);
    // The remote shell prints its pid, then becomes the command: stop() signals that pid.
    const wrapped = [...(this.sudo ? ['sudo', '-n'] : []), 'sh', '-c', 'echo "NFSCOPE_PID $$"; exec "$@"', 'sh', 'timeout', '--signal=INT', '--kill-after=5', String(secs), ...argv];
    const inner = this.local.spawn([...this.sshArgv(), wrapped.map(shellQuote).join(' ')], { timeoutMs: (secs + 15) * 1000 });
    let pid: string | null = null;
    const done = inner.done.then((r) => ({ ...r, argv, stdout: r.stdout.replace(/^NFSCOPE_PID \d+\n/, '') }));
    // A local SIGINT to ssh does not reliably reach the remote process: signal it there.
    const { running, emit } = runningHandle(argv, done, async (sig) => {
      if (sig === 'INT' && pid) await this.exec(['kill', '-INT', pid], { timeoutMs: 10_000 });
      else await inner.stop(500);
    });
    inner.onLine((l) => {
      const m = !pid && l.match(/^NFSCOPE_PID (\d+)$/);
      if (m) pid = m[1]!;
      else emit(l);
    });
    return running;
  }

  /** Copies nfscope's bundled files to the target once per content, under /tmp/nfscope-<hash>. */
  async bundled(rel: string): Promise<string> {
    const content = await readFile(join(PACKAGE_ROOT, rel), 'utf8');
    const hash = createHash('sha256').update(content).digest('hex').slice(0, 12);
    this.bundleDir ??= `/tmp/nfscope-${process.getuid?.() ?? 0}`;
    const remote = `${this.bundleDir}/${hash}/${rel}`;
    if (!(await this.exists(remote))) {
      const r = await this.exec(['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1"', 'sh', remote], { input: content });
      if (r.exitCode !== 0) throw new Error(`copying ${rel} to ${this.name} failed: ${r.stderr}`);
    }
    return remote;
  }

  async close(): Promise<void> {
    // Ends the shared connection's master process: nothing is left running locally.
    await this.local.exec([...this.sshArgv().slice(0, -2), '-O', 'exit', '--', this.spec.host], { timeoutMs: 10_000 });
  }
}
