import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError, CommandFailedError, shellQuote } from '../lib/errors.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import { AgentClient } from '../vm/agent-client.js';
import { AgentBackedTarget } from './agent-backed.js';
import { underPdeathsig } from './local.js';
import type { SshSpec } from './ssh-spec.js';

/** Longest a remote command may run when the caller gives no timeout: every remote run is bounded. */
const DEFAULT_REMOTE_S = 600;
/** Longest an agent session may live on the remote, whatever happens to this side. */
const SESSION_S = 24 * 3600;

/**
 * Reads the agent's source from stdin (its length on the first line), then
 * runs it: nothing of nfscope's is ever stored on the remote before it runs,
 * so there is nothing another remote user could plant or swap (issue 15).
 */
const BOOTSTRAP = "import sys;n=int(sys.stdin.buffer.readline());exec(compile(sys.stdin.buffer.read(n),'nfscope-agent','exec'),{'__name__':'nfscope_agent'})";

/**
 * A remote kernel over ssh: one ssh session a run, with nfscope's agent
 * (payload/vm/agent.py, the micro-VM's) at the far end, streamed over stdin.
 * Every command is a request on that session: no connection per command
 * (issue 15: 12.8× the local time over loopback before), no shell text but
 * the one command line that starts the agent, quoted by shellQuote. Bundled
 * files travel over the session into the agent's private directory (mkdtemp,
 * 0700, owner checked), removed when the session ends. Every remote run has
 * a timeout; if the session breaks, the agent kills what it started.
 */
export class SshTarget extends AgentBackedTarget {
  readonly name: string;
  readonly journalSpec: string;
  protected override defaultTimeoutMs = DEFAULT_REMOTE_S * 1000;
  // Over ssh a tracer is bounded too: a lost session must not leave it running for ever.
  protected override defaultSpawnTimeoutMs: number | undefined = DEFAULT_REMOTE_S * 1000;
  private session: Promise<{ client: AgentClient; child: ChildProcess }> | null = null;
  private files = new Map<string, Promise<string>>();
  private closed = false;

  /** sudo: run remote commands with `sudo -n` (the Vagrant VM logs in as 'vagrant'). */
  constructor(readonly spec: SshSpec, private extraOpts: string[] = [], private sudo = false) {
    super();
    this.name = `ssh://${spec.user ? `${spec.user}@` : ''}${spec.host}${spec.port ? `:${spec.port}` : ''}`;
    this.journalSpec = sudo ? 'vagrant' : this.name;
  }

  /** ssh's own options: batch mode (never a password prompt), no multiplexing (one session is enough). */
  sshArgv(): string[] {
    const s = this.spec;
    const id = process.env.NFSCOPE_SSH_IDENTITY;
    const kh = process.env.NFSCOPE_SSH_KNOWN_HOSTS;
    return [
      'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'StrictHostKeyChecking=accept-new',
      '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4',
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

  /** Starts the session on first use: ssh, the remote python3, the agent's source over stdin, its hello. */
  private open(): Promise<{ client: AgentClient; child: ChildProcess }> {
    // Closed (the run ended, or a fleet's deadline passed): a late call must not start another session.
    if (this.closed) return Promise.reject(new Error(`${this.name}: the session was closed`));
    this.session ??= (async () => {
      const src = await readFile(join(PACKAGE_ROOT, 'payload/vm/agent.py'));
      const remote = SshTarget.remoteCommand(['python3', '-S', '-c', BOOTSTRAP, '--stdio'], SESSION_S, this.sudo);
      // Under pdeathsig: a SIGKILLed nfscope takes its ssh with it, and the agent sees EOF.
      const [file, ...args] = underPdeathsig([...this.sshArgv(), remote]);
      // Own process group: the terminal's Ctrl-C must not take the session the undo commands go through (issue 26).
      const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      let stderr = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
      child.on('error', (e) => (stderr += `${e.message}\n`));
      const client = new AgentClient();
      client.attach(child.stdout!, child.stdin!, () => child.stdin!.end(), `the ssh session to ${this.name} ended`);
      child.stdin!.write(`${src.length}\n`);
      child.stdin!.write(src);
      const exited = new Promise<null>((r) => child.once('close', () => r(null)));
      const hello = await Promise.race([client.waitHello(60_000), exited]);
      if (!hello) {
        child.kill('SIGKILL');
        throw new CapabilityError(`could not start nfscope's agent on ${this.name} over ssh (it needs python3 there${this.sudo ? ' and sudo -n' : ''}): ${stderr.trim().split('\n').slice(-3).join(' ') || 'no answer'}`);
      }
      return { client, child };
    })();
    return this.session;
  }

  protected async agent(): Promise<AgentClient> {
    return (await this.open()).client;
  }

  /** A bundled file, sent once a run into the agent's private directory on the remote. */
  bundled(rel: string): Promise<string> {
    let p = this.files.get(rel);
    if (!p) {
      p = (async () => {
        const data = (await readFile(join(PACKAGE_ROOT, rel))).toString('base64');
        const r = await (await this.agent()).request('put', [], { rel, data }).done;
        if (r.exitCode !== 0 || !r.stdout.startsWith('/')) throw new CommandFailedError(['put', rel], r.exitCode, r.stderr, `sending ${rel} to ${this.name}`);
        return r.stdout;
      })();
      this.files.set(rel, p);
    }
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = null;
    if (!s) return;
    const { client, child } = await s.catch(() => ({ client: null, child: null }));
    if (!client || !child) return;
    // The agent kills what it started and removes its directory, then the session ends.
    await client.shutdown(10_000);
    const gone = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('close', () => r())));
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}
