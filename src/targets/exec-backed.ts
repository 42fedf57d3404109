import { CommandFailedError } from '../lib/errors.js';
import type { ExecOptions, RawRun, Running, Target } from './target.js';

/**
 * File access for targets that can only run argv (a VM agent, ssh): every
 * helper is one argv, so paths travel as arguments, never as shell text.
 */
export abstract class ExecBackedTarget implements Target {
  abstract readonly name: string;
  abstract exec(argv: string[], opts?: ExecOptions): Promise<RawRun>;
  abstract spawn(argv: string[], opts?: ExecOptions): Running;
  abstract bundled(rel: string): Promise<string>;
  abstract close(): Promise<void>;

  async readFile(path: string): Promise<string | null> {
    const r = await this.exec(['cat', '--', path]);
    return r.exitCode === 0 ? r.stdout : this.fileAnswer(r, path);
  }

  async readFileBuffer(path: string): Promise<Buffer | null> {
    // base64 on the far side keeps binary files (config.gz) intact over text transports.
    const r = await this.exec(['base64', '-w0', '--', path]);
    return r.exitCode === 0 ? Buffer.from(r.stdout, 'base64') : this.fileAnswer(r, path);
  }

  async listDir(path: string): Promise<string[] | null> {
    const r = await this.exec(['ls', '-1A', '--', path]);
    return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : this.fileAnswer(r, path);
  }

  /**
   * A failed read is the file's answer (null: absent or refused) only when the tool ran and said
   * so (an exit status); a run with none (timed out, killed, the transport gone) throws.
   */
  private fileAnswer(r: RawRun, path: string): null {
    if (r.exitCode === null || r.timedOut) throw new CommandFailedError(r.argv, r.exitCode, r.stderr, `reading ${path} on ${this.name}`);
    return null;
  }

  async exists(path: string): Promise<boolean> {
    const r = await this.exec(['test', '-e', path]);
    // test says 1 for "no"; anything else is the transport failing, not an absent path.
    if (r.exitCode === 0 || r.exitCode === 1) return r.exitCode === 0;
    throw new CommandFailedError(r.argv, r.exitCode, r.stderr, `looking for ${path} on ${this.name}`);
  }

  async which(program: string): Promise<string | null> {
    for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin', '/usr/local/sbin']) {
      const r = await this.exec(['test', '-x', `${d}/${program}`]);
      if (r.exitCode === 0) return `${d}/${program}`;
      // test says 1 for "no"; anything else is the transport failing, not a missing tool.
      if (r.exitCode !== 1) throw new CommandFailedError(r.argv, r.exitCode, r.stderr, `looking for ${program} on ${this.name}`);
    }
    return null;
  }
}
