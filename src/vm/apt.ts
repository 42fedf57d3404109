import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import { run } from '../lib/run.js';
import { SUITE_SOURCES, type Suite } from '../lib/kernel-spec.js';
import { writeFileAtomic } from '../lib/safe-write.js';
import type { ExecOptions, RawRun, Target } from '../lib/target.js';

/**
 * An apt state of nfscope's own, one per Debian suite, under the kernel cache
 * (issue 12). The machine's apt lists only its own release; kernels of other
 * releases come from here, and the system's sources, lists and cache are never
 * read or written: every Dir:: apt consults is pointed inside this directory
 * (sources, parts, preferences, lists, cache, dpkg status), and each source is
 * `signed-by` the Debian archive keyring, so signatures are still checked.
 * One state per suite keeps each suite's candidate unambiguous (apt-cache show
 * then answers for that suite only) and refreshes only what a kernel needs.
 */

export const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
/** Lists older than this are refreshed before a name is resolved. */
export const MAX_LIST_AGE_MS = 24 * 3600_000;

export function aptRoot(cacheRoot: string): string {
  return join(cacheRoot, 'apt');
}

/** The sources.list of one suite's state (one-line format: apt 1.x and 2.x read it). */
/** What nfscope's apt states fetch from: a kernel's suite, or Debian 12's backports (vm/emulator.ts: a newer qemu). */
export type AptSuite = Suite | 'bookworm-backports';

const SOURCES: Record<AptSuite, { uri: string; suite: string }[]> = {
  ...SUITE_SOURCES,
  'bookworm-backports': [{ uri: 'http://deb.debian.org/debian', suite: 'bookworm-backports' }],
};

export function sourcesList(suite: AptSuite): string {
  return SOURCES[suite].map((s) => `deb [arch=amd64 signed-by=${KEYRING}] ${s.uri} ${s.suite} main\n`).join('');
}

export class AptState {
  readonly dir: string;
  constructor(
    private readonly host: Target,
    cacheRoot: string,
    readonly suite: AptSuite,
  ) {
    this.dir = join(aptRoot(cacheRoot), suite);
  }

  /** apt's options that confine it to this state. */
  options(): string[] {
    const d = this.dir;
    return [
      `Dir::Etc::sourcelist=${join(d, 'sources.list')}`,
      `Dir::Etc::sourceparts=${join(d, 'sources.list.d')}`,
      `Dir::Etc::preferences=${join(d, 'preferences')}`,
      `Dir::Etc::preferencesparts=${join(d, 'preferences.d')}`,
      `Dir::State::Lists=${join(d, 'lists')}`,
      `Dir::State::status=${join(d, 'status')}`,
      `Dir::Cache=${join(d, 'cache')}`,
      'Acquire::Languages=none',
      'APT::Architecture=amd64',
      'APT::Architectures::=amd64',
    ].flatMap((o) => ['-o', o]);
  }

  /** When the lists were last fetched, or null if never. */
  async updatedAt(): Promise<Date | null> {
    const st = await stat(join(this.dir, 'updated')).catch(() => null);
    return st ? st.mtime : null;
  }

  /**
   * Makes the state and fetches the suite's lists when they are missing,
   * older than a day, or `refresh` asks. A failed refresh over lists that
   * exist is a warning (offline: the old lists still name a kernel); with no
   * lists at all it is an error.
   */
  async ensure(o: { refresh?: boolean; progress?: (m: string) => void } = {}): Promise<void> {
    if (!existsSync(KEYRING)) throw new CapabilityError(`packages from ${this.suite} need the Debian archive keyring at ${KEYRING} (package debian-archive-keyring)`);
    const d = this.dir;
    for (const sub of ['', 'sources.list.d', 'preferences.d', 'lists/partial', 'cache/archives/partial']) {
      await mkdir(join(d, sub), { recursive: true, mode: 0o755 });
    }
    const want = sourcesList(this.suite);
    if ((await readFile(join(d, 'sources.list'), 'utf8').catch(() => '')) !== want) {
      await writeFileAtomic(join(d, 'sources.list'), want);
      await this.touch(new Date(0)); // sources changed: the lists are not theirs
    }
    if (!existsSync(join(d, 'status'))) await writeFileAtomic(join(d, 'status'), '');
    const at = await this.updatedAt();
    const stale = !at || Date.now() - at.getTime() > MAX_LIST_AGE_MS;
    if (!o.refresh && !stale) return;
    o.progress?.(`fetching the package lists of ${this.suite} (nfscope's own apt state, ${d})`);
    // flock: two runs refreshing the same state would fight over apt's lists lock.
    const r = await this.host.exec(['flock', join(d, 'lock'), 'apt-get', ...this.options(), '-q', 'update'], { timeoutMs: 300_000 });
    const failed = r.exitCode !== 0 || /^(W|E): /m.test(r.stderr);
    if (!failed) {
      await this.touch(new Date());
      return;
    }
    const why = r.stderr.trim().split('\n').slice(-3).join(' | ');
    if (at && at.getTime() > 0) {
      o.progress?.(`warning: could not refresh ${this.suite}'s package lists (${why}); using those of ${at.toISOString()}`);
      return;
    }
    throw new CapabilityError(`could not fetch the package lists of ${this.suite}: ${why}`);
  }

  private async touch(t: Date): Promise<void> {
    await writeFileAtomic(join(this.dir, 'updated'), t.toISOString() + '\n');
    await utimes(join(this.dir, 'updated'), t, t);
  }

  exec(argv: string[], opts?: ExecOptions): Promise<RawRun> {
    return this.host.exec([argv[0]!, ...this.options(), ...argv.slice(1)], opts);
  }
}

/**
 * `apt-get download PACKAGES` (through `exec`: an apt state's, or the system's apt) into DIR/debs,
 * each .deb unpacked with `dpkg-deb -x` into DIR/root, the .debs removed. One .deb a package, or it fails.
 */
export async function downloadAndUnpack(
  host: Target, exec: (argv: string[], opts?: ExecOptions) => Promise<RawRun>, packages: readonly string[], dir: string,
  o: { hint?: string; progress?: (m: string) => void } = {},
): Promise<void> {
  const debsDir = join(dir, 'debs');
  await mkdir(debsDir);
  const argv = ['apt-get', 'download', ...packages];
  const r = await exec(argv, { cwd: debsDir, timeoutMs: 900_000 });
  if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr, o.hint);
  const debs = (await readdir(debsDir)).filter((f) => f.endsWith('.deb'));
  if (debs.length !== packages.length) throw new CapabilityError(`${argv.join(' ')} produced ${debs.length} .deb files`);
  for (const deb of debs) {
    o.progress?.(`unpacking ${deb}`);
    await run(host, ['dpkg-deb', '-x', join(debsDir, deb), join(dir, 'root')], { timeoutMs: 300_000 });
  }
  await rm(debsDir, { recursive: true });
}

/**
 * One fetch at a time in a process, per kind: two VMs booting at once (a fleet of `qemu` and
 * `qemu:6.1`) must not both unpack the same thing, the second replacing the directory the first
 * boots from. The next waits for this one to settle, whichever way; a failure is its caller's alone.
 */
export function oneAtATime(): <T>(f: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return (f) => {
    const mine = last.then(f);
    last = Promise.allSettled([mine]);
    return mine;
  };
}
