/**
 * Where commands run: the kernel under test. Everything above this layer builds
 * argv arrays; a target runs them and hands back what happened.
 */

export type { RawRun } from '../model/run.js';
import type { RawRun } from '../model/run.js';

/** How much of a streamed process's stdout and stderr is kept for its RawRun: the last 64 KiB. */
export const STREAM_TAIL_BYTES = 64 << 10;

export interface ExecOptions {
  timeoutMs?: number;
  input?: string;
  env?: Record<string, string>;
  /** Working directory (local only). */
  cwd?: string;
  /** Write stdout to this file instead of collecting it (local only; binary output). */
  stdoutFile?: string;
  /**
   * spawn only: the process may run for hours. Its stdout goes line by line to the onLine
   * listeners and is not collected; the RawRun keeps the last STREAM_TAIL_BYTES of stdout and of
   * stderr, and says in `dropped` what it let go. Without it, RawRun.stdout is all of stdout.
   */
  stream?: boolean;
}

/** A process that keeps running (a tracer): its output arrives line by line. */
export interface Running {
  readonly argv: string[];
  /** The process id on this machine, when it has one here (local target). */
  readonly pid?: number;
  /** Resolves when the process has exited, with everything it printed. */
  done: Promise<RawRun>;
  /** Calls back for each complete stdout line as it arrives. */
  onLine(cb: (line: string) => void): void;
  /** SIGINT first (bpftrace prints its maps then), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<RawRun>;
}

export interface Target {
  readonly name: string;
  /**
   * How `nfscope cleanup` reaches this target again to undo a killed run's
   * changes (local, ssh://…, vagrant, qemu for a VM left up); undefined when
   * the changes cannot outlive the run (a VM that dies with nfscope).
   */
  readonly journalSpec?: string;
  /**
   * The uid commands run as there, where the target knows it without asking (local: this
   * process's; a replay: the recorded run's). Elsewhere requireRoot asks `id -u`.
   */
  readonly uid?: number;
  /**
   * A machine nfscope booted for its runs (the micro-VM): a machine-wide setting (the initial
   * netns's nf_conntrack_max) may be changed there for a run, and is put back. Elsewhere it is a
   * user's machine, and nfscope changes nothing that reaches beyond its own namespaces.
   */
  readonly disposable?: boolean;
  exec(argv: string[], opts?: ExecOptions): Promise<RawRun>;
  spawn(argv: string[], opts?: ExecOptions): Running;
  /**
   * The file's contents; null when it is absent or refused to this user (the file's own answer,
   * which callers may report as such). Any other failure (an I/O error, a transport that timed out
   * or died) throws: it says nothing of the file.
   */
  readFile(path: string): Promise<string | null>;
  readFileBuffer(path: string): Promise<Buffer | null>;
  /** The directory's entries; null, or a throw, as readFile. */
  listDir(path: string): Promise<string[] | null>;
  /** Whether the path exists; a transport failure throws. */
  exists(path: string): Promise<boolean>;
  /** Absolute path of a program on the target, or null. */
  which(program: string): Promise<string | null>;
  /** Path of a bundled file (bpf/…, payload/…) as the target sees it. */
  bundled(rel: string): Promise<string>;
  /**
   * The running kernel's BTF (/sys/kernel/btf/vmlinux), where the target has a
   * quicker way to it than reading that file through itself: the micro-VM's
   * kernel is an ELF on this machine, and the file is its .BTF section
   * (reading 5 MB through the guest's agent took 32 s under TCG).
   */
  kernelBtf?(): Promise<Buffer | null>;
  /** Releases the target (a VM is shut down). Idempotent. */
  close(): Promise<void>;
  /** A replay (targets/replay.ts): throws when the run did not go as recorded. Called after close. */
  assertConsumed?(): void;
}

/** This machine: a Target that can also start a process that outlives nfscope (`nfscope vm up`). */
export interface Host extends Target {
  spawnDaemon(argv: string[]): Running & { pid: number };
}
