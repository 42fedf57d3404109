import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, readlinkSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * The cleanup journal: every state change a run makes is written here, with
 * the argv that undoes it, *before* the change is made (and fsync'd), so a
 * run killed by SIGKILL, a crash or a power cut leaves a list `nfscope
 * cleanup` can work through. A finished run deletes its journal.
 *
 * One file a run, /run/nfscope/journal/<pid>-<random>.jsonl (tmpfs: a reboot
 * clears it, and with it the state it described, except on remote targets):
 *   {"v":1,"pid":…,"host":…,"started":…,"argv":[…],"target":"local"}   header
 *   {"seq":1,"what":"ip netns del nfs-1a2b3c-c","undo":[{"argv":[…]}]}   a change
 *   {"seq":3,"what":"stop kfree_skb tracer","kill":{"pid":…,"comm":"bpftrace"}}
 *   {"done":1}                                                           undone
 */
export const JOURNAL_DIR = process.env.NFSCOPE_JOURNAL_DIR ?? '/run/nfscope/journal';

export interface UndoCommand {
  argv: string[];
  /** stdin for the command (a tracefs value written with tee). */
  input?: string;
  /** Run only if this file holds exactly this text (a lock still ours). */
  ifFileEquals?: { path: string; content: string };
  /** Shared state (the tracefs mount): left alone while another nfscope run is alive. */
  shared?: boolean;
}

export type JournalChange =
  | { seq: number; what: string; undo: UndoCommand[] }
  | { seq: number; what: string; kill: { pid: number; comm: string } };

export interface JournalHeader {
  v: 1;
  pid: number;
  host: string;
  started: string;
  argv: string[];
  /** How to reach the target again: local, ssh://…, vagrant, qemu (a VM left up). */
  target: string;
  kernel?: string;
  /**
   * The network namespace the run was in (`net:[INODE]`, a local run's): an undo that acts on the
   * current netns is replayed there by `nfscope cleanup`, never in cleanup's own. `unknown: …`
   * when it could not be read.
   */
  netns?: string;
}

/** This process's network namespace, as the journal records it. */
export function ownNetns(): string {
  try {
    return readlinkSync('/proc/self/ns/net');
  } catch (e) {
    return `unknown: ${(e as Error).message}`;
  }
}

export class Journal {
  private seq = 0;
  private fd: number | null;
  readonly path: string;

  private constructor(path: string, fd: number, private readonly header: JournalHeader) {
    this.path = path;
    this.fd = fd;
  }

  static open(target: string, kernel?: string): Journal {
    mkdirSync(JOURNAL_DIR, { recursive: true, mode: 0o700 });
    const path = join(JOURNAL_DIR, `${process.pid}-${randomBytes(4).toString('hex')}.jsonl`);
    const fd = openSync(path, 'wx', 0o600);
    const header: JournalHeader = { v: 1, pid: process.pid, host: hostname(), started: new Date().toISOString(), argv: process.argv.slice(2), target, ...(kernel ? { kernel } : {}), ...(target === 'local' ? { netns: ownNetns() } : {}) };
    const j = new Journal(path, fd, header);
    j.write(header);
    return j;
  }

  private write(v: unknown): void {
    if (this.fd === null) return;
    writeSync(this.fd, JSON.stringify(v) + '\n');
    fsyncSync(this.fd);
  }

  /**
   * Records a change before it is made; returns its number. A change recorded after the run
   * closed or kept its journal (made during or after teardown: a step still running when the signal
   * came) reopens it, recreating the file with its header if it was deleted, and leaves it for
   * `nfscope cleanup`: before issue 26 such a change was written nowhere and never undone.
   */
  record(what: string, how: { undo: UndoCommand[] } | { kill: { pid: number; comm: string } }): number {
    const seq = ++this.seq;
    if (this.fd === null) this.reopen();
    this.write({ seq, what, ...how });
    if (this.ended) this.keep();
    return seq;
  }

  /** Set once the run closed or kept its journal: what is recorded later is left for `nfscope cleanup`. */
  private ended = false;

  private reopen(): void {
    let fd: number;
    let fresh = false;
    try {
      // O_NOFOLLOW: the path is in our private directory; a link there is not written through.
      fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
    } catch {
      fd = openSync(this.path, 'wx', 0o600);
      fresh = true;
    }
    this.fd = fd;
    if (fresh) this.write(this.header);
  }

  done(seq: number): void {
    this.write({ done: seq });
  }

  /** The run undid everything: the journal goes. */
  close(): void {
    this.ended = true;
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }

  /** The run ends with undos that failed: the journal stays for `nfscope cleanup`. */
  keep(): void {
    this.ended = true;
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

export interface StaleJournal {
  path: string;
  header: JournalHeader;
  /** Changes not marked done, newest first (the order to undo them). */
  pending: JournalChange[];
  /** A line that could not be read (a write cut by the kill): reported, not guessed at. */
  damaged: number;
  /** Why the file is not trusted (owner, mode, a symlink): nothing in it is replayed. */
  untrusted?: string;
}

/**
 * Only a journal nfscope (root) could have written is replayed: the directory
 * and the file belong to us (root) and nobody else can write them, and the
 * file is a plain file, not a link (issue 15: a planted journal through
 * NFSCOPE_JOURNAL_DIR made `nfscope cleanup` run its argv as root).
 */
export function untrustedReason(st: { uid: number; mode: number }, what: string, kind: 'dir' | 'file'): string | null {
  const me = process.getuid?.() ?? 0;
  const type = st.mode & constants.S_IFMT;
  if (type !== (kind === 'dir' ? constants.S_IFDIR : constants.S_IFREG)) return `${what} is not a ${kind === 'dir' ? 'directory' : 'regular file'}`;
  if (st.uid !== me) return `${what} belongs to uid ${st.uid}, not to ${me}`;
  if ((st.mode & 0o022) !== 0) return `${what} can be written by other users (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** A process that runs: a zombie (killed, never reaped: PID 1 of a container may not reap) is dead. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Journals whose run is gone (its pid dead on this host). A live run's journal is its own business. */
export function staleJournals(): StaleJournal[] {
  let names: string[];
  try {
    names = readdirSync(JOURNAL_DIR).filter((n) => n.endsWith('.jsonl'));
  } catch {
    return [];
  }
  const out: StaleJournal[] = [];
  const dirDistrust = untrustedReason(lstatSync(JOURNAL_DIR), `journal directory ${JOURNAL_DIR}`, 'dir');
  for (const n of names) {
    const path = join(JOURNAL_DIR, n);
    let text: string;
    let untrusted = dirDistrust;
    try {
      // O_NOFOLLOW: a planted symlink is not read through; the checks are on what was opened.
      const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        untrusted ??= untrustedReason(fstatSync(fd), `journal ${path}`, 'file');
        text = untrusted ? '' : readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOOP') continue;
      untrusted = `journal ${path} is a symbolic link`;
      text = '';
    }
    if (untrusted) {
      out.push({ path, header: { v: 1, pid: 0, host: hostname(), started: '', argv: [], target: 'local' }, pending: [], damaged: 0, untrusted });
      continue;
    }
    // A live run's journal is its own business (the pid is in the name, so even a file whose header is still being written is recognised).
    const pidOf = Number(n.split('-')[0]);
    if (pidOf > 0 && alive(pidOf)) continue;
    const lines = text.split('\n').filter((l) => l !== '');
    let header: JournalHeader | null = null;
    const changes = new Map<number, JournalChange>();
    let damaged = 0;
    lines.forEach((l, i) => {
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(l);
      } catch {
        damaged++;
        return;
      }
      if (i === 0 && v.v === 1) header = v as unknown as JournalHeader;
      else if (typeof v.done === 'number') changes.delete(v.done);
      else if (typeof v.seq === 'number' && typeof v.what === 'string' && (Array.isArray(v.undo) || typeof v.kill === 'object')) changes.set(v.seq, v as unknown as JournalChange);
      else damaged++;
    });
    const h = header as JournalHeader | null;
    if (!h) {
      // A header cut by the kill: the file was created an instant before; nothing else was recorded.
      out.push({ path, header: { v: 1, pid: 0, host: hostname(), started: '', argv: [], target: 'local' }, pending: [], damaged: Math.max(1, damaged) });
      continue;
    }
    if (h.host === hostname() && alive(h.pid)) continue;
    out.push({ path, header: h, pending: [...changes.values()].sort((a, b) => b.seq - a.seq), damaged });
  }
  return out;
}
