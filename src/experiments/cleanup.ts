import { readFile, unlink } from 'node:fs/promises';
import { inNetns, NETNS_DIR } from '../tools/netns.js';
import { readdirSync, statSync } from 'node:fs';
import { CommandFailedError } from '../lib/errors.js';
import { runUndoCommand, undoStillOurs } from '../lib/cleanup.js';
import { alive, JOURNAL_DIR, ownNetns, staleJournals, type JournalChange, type StaleJournal } from '../lib/journal.js';
import type { Target } from '../targets/target.js';
import { actsOnCurrentNetns, KILL_ONLY_LOCK_HOLDER, refuseKill, refuseUndo, TRACING_LOCK } from '../lib/undo-allowlist.js';
import type { JournalReport, UndoResult } from '../model/cleanup.js';

/**
 * Opens where a journal's run ran (null, with a note, when that is gone). The command hands it in:
 * a VM left up by `vm up` is found through vm/, which experiments do not import.
 */
export type OpenJournalTarget = (j: StaleJournal) => Promise<{ target: Target | null; note?: string }>;

/** stderr of an undo whose object is already gone: nothing left to do. */
const GONE = /No such file|Cannot find|does not exist|not found|No such process|not mounted|No such device|Could not process rule|Bad rule|doesn't exist|Invalid argument/i;

/** Is some nfscope run alive right now (its journal's pid)? Shared state stays while one is. */
async function liveRunExists(): Promise<boolean> {
  const { readdir } = await import('node:fs/promises');
  // No journal directory: no run has journaled here. Any other error is not read as "none alive":
  // shared state (tracefs) would be undone under a live run.
  const names = await readdir(JOURNAL_DIR).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  return names.some((n) => {
    const pid = Number(n.split('-')[0]);
    return pid > 0 && pid !== process.pid && alive(pid);
  });
}

/** Whether the kernel lists `pid` as holding an flock on the target's tracing lock (/proc/locks). */
async function holdsTracingLock(target: Target, pid: number): Promise<boolean> {
  const st = await target.exec(['stat', '-L', '-c', '%i', TRACING_LOCK], { timeoutMs: 10_000 });
  // No lock file: nobody holds it. Any other failure is not read as an answer.
  // Exit 127 is stat itself missing (its shell's "not found"), never the lock file's answer.
  if (st.exitCode !== 0 && st.exitCode !== 127 && /No such file/.test(st.stderr)) return false;
  if (st.exitCode !== 0) throw new CommandFailedError(st.argv, st.exitCode, st.stderr, 'reading the tracing lock\'s inode');
  const ino = st.stdout.trim();
  const locks = await target.readFile('/proc/locks');
  if (locks === null) throw new CommandFailedError(['cat', '/proc/locks'], null, '', 'the kernel\'s lock list could not be read');
  // "N: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE START END"
  return locks.split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === 'FLOCK' && f[4] === String(pid) && f[5]?.endsWith(`:${ino}`);
  });
}

/** The commands a change's undo would run, as shown to the user. */
function argvOf(c: JournalChange): string[][] {
  return 'kill' in c ? [['kill', '-KILL', String(c.kill.pid), `(comm ${c.kill.comm})`]] : c.undo.map((u) => u.argv);
}

/** Why a journaled change is not replayed (not a shape nfscope writes), or null. */
function refusal(c: JournalChange): string | null {
  if ('kill' in c) return refuseKill(c.kill);
  if (!Array.isArray(c.undo) || c.undo.length === 0) return 'no undo commands';
  for (const u of c.undo) {
    const why = refuseUndo(u);
    if (why) return `${why}: ${JSON.stringify(u.argv).slice(0, 200)}`;
  }
  return null;
}

/**
 * Where a local run's undos that act on the current netns go: here (the run's netns is cleanup's),
 * through nsenter into the /run/netns name that holds the run's netns, or nowhere (said why).
 */
type NetnsPlan = { here: true } | { name: string } | { skip: string };

function netnsPlan(recorded: string | undefined): NetnsPlan {
  const here = ownNetns();
  // A journal from before the netns was recorded: the run's netns is not known, as before.
  if (recorded === undefined || recorded === here) return { here: true };
  const inode = /^net:\[(\d+)\]$/.exec(recorded)?.[1];
  if (inode) {
    let names: string[] = [];
    try {
      names = readdirSync(NETNS_DIR);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // ENOENT: the name went meanwhile (ip netns del): not this one.
    const name = names.find((n) => {
      try {
        return String(statSync(`${NETNS_DIR}/${n}`).ino) === inode;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
    });
    if (name) return { name };
  }
  return { skip: `the run was in netns ${recorded}, this cleanup runs in ${here}, and no /run/netns name holds the run's: run \`nfscope cleanup\` inside it (nsenter --net=/proc/PID/ns/net -- nfscope cleanup, PID any process there)` };
}

/**
 * /proc/PID/NAME where the run ran, null when the process is gone. Locally only ENOENT (ESRCH for a
 * task dying as it is read) is that answer; any other error is not read as one.
 */
async function procFile(target: Target, pid: number, name: string): Promise<string | null> {
  // Elsewhere the transport's reads are bounded by its own timeout, and one with no exit status
  // (timed out, transport gone) throws (targets/exec-backed.ts): null is cat's own answer.
  if (target.name !== 'local') return target.readFile(`/proc/${pid}/${name}`);
  return readFile(`/proc/${pid}/${name}`, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ESRCH') return null;
    throw e;
  });
}

/** How long a SIGKILLed tracer may take to go: detaching its probes waits for RCU grace periods. */
const KILL_SETTLE_MS = 10_000;

/**
 * 'killed' once the process is gone (or a zombie: it holds no probe any more), else a failure
 * that says what it was doing: a SIGKILL only lands when the task leaves the kernel, and one
 * stuck there (state D) still holds its probes. Read where it runs (/proc/PID/stat, wchan).
 */
async function goneAfterKill(target: Target, pid: number, comm: string): Promise<UndoResult> {
  const end = Date.now() + KILL_SETTLE_MS;
  for (;;) {
    const stat = await procFile(target, pid, 'stat');
    // "pid (comm) S …": comm may hold ')'; the state follows the last one.
    const state = stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const name = stat === null ? '' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (state === null || state === 'Z' || state === 'X' || name !== comm.slice(0, 15)) return 'killed';
    if (Date.now() >= end) {
      const wchan = ((await procFile(target, pid, 'wchan')) ?? '').trim();
      return `failed: SIGKILL sent, still there after ${KILL_SETTLE_MS / 1000} s (state ${state}${wchan && wchan !== '0' ? `, in ${wchan}` : ''})`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function undoChange(target: Target, c: JournalChange, sharedBusy: boolean, dryRun: boolean, netns: NetnsPlan = { here: true }): Promise<UndoResult> {
  const refused = refusal(c);
  if (refused) return `refused: ${refused}`;
  if ('kill' in c) {
    // Looked up where the run ran (a VM left up, an ssh host): a tracer there outlives a killed
    // nfscope as it would here. An unreadable comm is no such process (readFile: null when absent).
    const comm = ((await procFile(target, c.kill.pid, 'comm')) ?? '').trim();
    // The pid may have been reused: only a process with the recorded name is ours.
    if (!comm || comm !== c.kill.comm.slice(0, 15)) return 'not running';
    // A name anyone's process may have (sleep): ours only while it holds nfscope's tracing lock.
    if (KILL_ONLY_LOCK_HOLDER.has(c.kill.comm) && !(await holdsTracingLock(target, c.kill.pid))) return 'not running';
    if (dryRun) return 'would undo';
    if (target.name === 'local') process.kill(c.kill.pid, 'SIGKILL');
    else {
      const r = await target.exec(['kill', '-KILL', String(c.kill.pid)], { timeoutMs: 10_000 });
      if (r.exitCode !== 0) return `failed: ${new CommandFailedError(r.argv, r.exitCode, r.stderr).message.split('\n')[0]}`;
    }
    return goneAfterKill(target, c.kill.pid, c.kill.comm);
  }
  let gone = false;
  for (const plain of c.undo) {
    if (plain.shared && sharedBusy) return 'skipped (in use by a live run)';
    const bound = actsOnCurrentNetns(plain.argv);
    if (bound && 'skip' in netns) return 'skipped (in another netns)';
    const cmd = bound && 'name' in netns ? { ...plain, argv: inNetns({ kind: 'named', name: netns.name }, plain.argv) } : plain;
    if (dryRun) {
      if (!(await undoStillOurs(target, cmd))) return 'not ours any more';
      continue;
    }
    const r = await runUndoCommand(target, cmd);
    if (r === 'not ours') return 'not ours any more';
    if (r.exitCode === 0) continue;
    // Exit 127: the undo's own program is missing (its shell says "not found"), so nothing was undone.
    if (r.exitCode !== 127 && GONE.test(r.stderr)) {
      gone = true;
      continue;
    }
    return `failed: ${new CommandFailedError(cmd.argv, r.exitCode, r.stderr).message.split('\n').slice(0, 2).join(' ')}`;
  }
  return dryRun ? 'would undo' : gone ? 'already gone' : 'undone';
}

/** Undoes what killed runs left behind, from their journals, newest change first. */
export async function cleanupJournals(o: { dryRun?: boolean }, openFor: OpenJournalTarget): Promise<JournalReport[]> {
  const reports: JournalReport[] = [];
  const sharedBusy = await liveRunExists();
  for (const j of staleJournals()) {
    if (j.untrusted) {
      // Nothing in it is read, let alone run; the file stays for a human to look at.
      reports.push({ untrusted: j.untrusted, journal: j.path, pid: 0, started: '', argv: [], target: '', actions: [], note: `not trusted, nothing replayed: ${j.untrusted}` });
      continue;
    }
    const rep: JournalReport = { journal: j.path, pid: j.header.pid, started: j.header.started, argv: j.header.argv, target: j.header.target, actions: [] };
    if (j.damaged) rep.note = `${j.damaged} unreadable journal line(s) (cut by the kill)`;
    reports.push(rep);
    const { target, note } = j.pending.length ? await openFor(j) : { target: null };
    if (note) rep.note = note;
    const netns = target?.name === 'local' ? netnsPlan(j.header.netns) : { here: true as const };
    if ('skip' in netns) rep.note = [rep.note, netns.skip].filter(Boolean).join('; ');
    if ('name' in netns) rep.note = [rep.note, `the run was in netns ${netns.name} (${j.header.netns}): what it changed there is undone there`].filter(Boolean).join('; ');
    try {
      if (target) for (const c of j.pending) rep.actions.push({ what: c.what, argv: argvOf(c), result: await undoChange(target, c, sharedBusy, Boolean(o.dryRun), netns) });
    } finally {
      if (target && target.name !== 'local') await target.close();
    }
    const failed = rep.actions.some((a) => /^(failed|skipped|refused)/.test(a.result));
    if (!o.dryRun && !failed) {
      // Gone already (another cleanup at once) is the same end; any other error is said, not swallowed.
      await unlink(j.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') rep.note = [rep.note, `the journal could not be removed: ${e.message}`].filter(Boolean).join('; ');
      });
    }
  }
  return reports;
}
