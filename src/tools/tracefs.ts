import { hostname } from 'node:os';
import { CommandFailedError } from '../lib/errors.js';
import type { Cleanup } from '../lib/cleanup.js';
import { alive } from '../lib/journal.js';
import { findMount } from '../parsers/versions.js';
import { run } from '../lib/run.js';
import type { Target } from '../targets/target.js';

export const TRACEFS_DEFAULT = '/sys/kernel/tracing';
/** One file a run using a tracefs that nfscope mounted; the last one out unmounts it. */
const USERS = '/run/nfscope/tracefs-users';
/** Present while the tracefs mount is nfscope's (not the system's). */
const MARK = '/run/nfscope/tracefs-mounted';
/** Held while checking for and making the mount. */
const LOCK = '/run/nfscope/tracefs.lock';

/**
 * The tracefs mount point; mounts it when absent (bpftrace needs it for
 * tracepoints and kprobes). A mount that was there before is the system's
 * and is never touched. A mount nfscope made is shared by concurrent runs:
 * each registers as a user, and the last one out unmounts it, so one run
 * finishing never pulls tracefs from under another.
 */
export async function ensureTracefs(target: Target, cleanup: Cleanup): Promise<string> {
  const mountedAt = async () => findMount((await target.readFile('/proc/mounts')) ?? '', 'tracefs');
  const mounted = await mountedAt();
  if (mounted && !(await target.exists(MARK))) return mounted; // the system's mount: never touched
  // Register as a user first, so that a run finishing meanwhile sees us and keeps the mount.
  const me = `${USERS}/${hostname()}-${process.pid}`;
  await run(target, ['mkdir', '-p', USERS]);
  cleanup.push(`tracefs: unregister, unmount if the last nfscope user`, async () => {
    await target.exec(['rm', '-f', me]);
    if (await othersUsing(target)) return;
    if (!(await target.exists(MARK))) return;
    if (await mountedAt()) {
      const r = await target.exec(['umount', TRACEFS_DEFAULT]);
      if (r.exitCode !== 0) throw new CommandFailedError(['umount', TRACEFS_DEFAULT], r.exitCode, r.stderr);
    }
    await target.exec(['rm', '-f', MARK]);
  }, { undo: [{ argv: ['rm', '-f', me] }, { argv: ['umount', TRACEFS_DEFAULT], shared: true }, { argv: ['rm', '-f', MARK], shared: true }] });
  // The undo waits for all of it (registration, mark, mount) to end before it looks at the mount.
  return cleanup.making('mount tracefs', () => registerAndMount(target, me, mounted));
}

/** Registers this run as a user and, when tracefs is not mounted, marks and mounts it. */
async function registerAndMount(target: Target, me: string, mounted: string | null): Promise<string> {
  await run(target, ['tee', me], { input: `${process.pid}\n` });
  if (mounted) return mounted;
  // The mark before the mount: whoever sees the mount also sees that it is nfscope's.
  await run(target, ['tee', MARK], { input: `${hostname()} ${process.pid}\n` });
  // Mount only if no one has, under a lock: tracefs mounts stack, and two runs starting together
  // both mounted it; the last one out unmounted one, and the other stayed, unmarked, for good
  // (found by the concurrency test followed by the fault test). A fixed script, no user input.
  // Each process of the chain dies with its parent (setpriv --pdeathsig; the mount is exec'd, so
  // it is the shell itself): a run killed while flock waited left flock behind, which took the
  // lock once `nfscope cleanup` had unmounted and removed the mark, and mounted tracefs for good
  // (the fault test, seed-dependent, 2026-12-01).
  // pdeathsig armed after its parent died is never delivered, so a chain cut at that instant can
  // still reach the mount late, after `nfscope cleanup` undid the run: the mount is made only while
  // the run's own registration ($1, which cleanup removes) is there.
  const dying = ['setpriv', '--pdeathsig', 'KILL', '--'];
  const argv = [...dying, 'flock', LOCK, ...dying, 'sh', '-c',
    `[ -e "$1" ] || exit 0; grep -q ' ${TRACEFS_DEFAULT} tracefs ' /proc/mounts || exec mount -t tracefs nodev ${TRACEFS_DEFAULT}`, 'sh', me];
  await run(target, argv);
  return TRACEFS_DEFAULT;
}

/** Another live nfscope run registered as a user (another host's runs count as alive). */
async function othersUsing(target: Target): Promise<boolean> {
  const users = (await target.listDir(USERS)) ?? [];
  const host = hostname();
  return users.some((u) => {
    const m = /^(.*)-(\d+)$/.exec(u);
    if (!m) return false;
    return m[1] !== host || alive(Number(m[2]));
  });
}
