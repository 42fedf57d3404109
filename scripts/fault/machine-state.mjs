// fault/machine-state.mjs - what a run (or a test) could leave on this machine, as a snapshot to
// take before it and compare after it: `stateDiff(before, after)` names what appeared (or, for the
// root namespace's firewall, also what went) in between, so the state a user already had (the
// classroom VM's netns `nfscope-vagrant`, a system tracefs mount) is never a leftover.
//
// Other runs on the machine at the same time (another user's suite, another nfscope) make state
// too. What can be told to be theirs is marked `foreign` in the snapshot and not counted:
// - a process is ours when its environment carries NFSCOPE_TEST_OWNER with our value (set here at
//   import; every child inherits it, through nsenter, setpriv and `ip netns exec` alike), foreign
//   when its environment is readable and carries another value or none;
// - a journal /run/nfscope/journal/<pid>-….jsonl or a tracefs user <host>-<pid> is foreign when
//   that pid is alive and foreign; a dead run's journal counts (nobody else will clean it up);
// - a netns is foreign when a foreign live run's journal names it (nfscope's sandboxes, nfs-…-s),
//   or when it is a test netns (makeNetns: nfst-<owner tag><random>) of another owner.
// What cannot be attributed (a new link of the root namespace, a tracer setting) counts as ours.
// Used by test/helpers/sys.ts (leftoversSince) and scripts/fault/inject.mjs.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

process.env.NFSCOPE_TEST_OWNER ??= `${process.pid}-${randomBytes(4).toString('hex')}`;
export const OWNER = process.env.NFSCOPE_TEST_OWNER;
/** 4 hex digits of the owner, carried in the names of test netns (makeNetns). */
export const OWNER_TAG = createHash('sha256').update(OWNER).digest('hex').slice(0, 4);

// nfscope's own default (lib/journal.ts), or the directory a test lane gave its runs (scripts/test.sh).
const JOURNALS = process.env.NFSCOPE_JOURNAL_DIR ?? '/run/nfscope/journal';
const TRACEFS_USERS = '/run/nfscope/tracefs-users';

const out = (argv) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  // A snapshot that cannot be read is no snapshot: comparing it would hide or invent leftovers.
  if (r.status !== 0) throw new Error(`machine snapshot: ${argv.join(' ')} → ${r.error?.message ?? `exit ${r.status}`}: ${r.stderr}`);
  return r.stdout;
};
const list = (dir) => (existsSync(dir) ? readdirSync(dir).sort() : []);
const read = (f) => {
  try {
    return readFileSync(f, 'utf8');
  } catch (e) {
    return null; // gone (a process that exited while we looked) or refused: said by the caller
  }
};

/** 'ours' | 'foreign' | 'gone': whose a live process is, from its environment. */
function owner(pid) {
  let env;
  try {
    env = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return 'gone';
  }
  // A zombie's environ reads empty: it holds nothing, and is not attributed.
  if (env.length === 0) return 'gone';
  return env.toString('latin1').split('\0').includes(`NFSCOPE_TEST_OWNER=${OWNER}`) ? 'ours' : 'foreign';
}

/** Processes a run of nfscope or a test may leave: its tracers, guests, traffic scripts, itself. */
function watched(comm, argv) {
  if (comm === 'bpftrace' || comm === 'trace-cmd' || comm.startsWith('qemu-system')) return true;
  const args = argv.slice(1, 3).join(' ');
  return (comm === 'node' && /dist\/main\.js/.test(args)) || (/^python/.test(comm) && /scripts\/net\//.test(args));
}

function processes() {
  const res = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = read(`/proc/${d}/stat`);
    if (stat === null) continue;
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const argv = (read(`/proc/${d}/cmdline`) ?? '').split('\0').filter(Boolean);
    if (!watched(comm, argv)) continue;
    const pid = Number(d);
    // State, parent and wchan: a leftover says whether it was orphaned (ppid 1) or stuck in the kernel (D).
    const ppid = stat.slice(stat.lastIndexOf(')') + 4).split(' ')[0];
    const wchan = (read(`/proc/${d}/wchan`) ?? '').trim();
    const how = `[state ${state}, ppid ${ppid}${wchan && wchan !== '0' ? `, wchan ${wchan}` : ''}]`;
    res.push({ pid, cmd: `${argv.join(' ') || `[${comm}]`} ${how}`, zombie: state === 'Z', foreign: owner(pid) === 'foreign' });
  }
  return res;
}

const pidOf = (name) => Number(/^(?:.*-)?(\d+)(?:-[0-9a-f]+\.jsonl)?$/.exec(name)?.[1] ?? NaN);

function tracefs() {
  const T = (m, f) => {
    const v = read(join(m, f));
    return v === null ? (existsSync(join(m, f)) ? '<unreadable>' : '<absent>') : v.trim();
  };
  return read('/proc/mounts').split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'tracefs').map((f) => f[1])
    .filter((m, i, all) => all.indexOf(m) === i)
    .map((m) => ({
      mount: m, currentTracer: T(m, 'current_tracer'), kprobeEvents: T(m, 'kprobe_events'),
      // set_ftrace_filter refuses reading where there is no function tracer (EPERM on the 6.18 host).
      ftraceFilter: T(m, 'set_ftrace_filter'), setEvent: T(m, 'set_event'), instances: list(join(m, 'instances')),
    }));
}

/** Whether a live process holds nfscope's tracing lock (tools/tracing-lock.ts), and whose it is, from /proc/locks. */
function tracingLock() {
  const f = '/run/nfscope/tracing.lock';
  if (!existsSync(f)) return { held: false, foreign: false };
  const ino = statSync(f).ino;
  // "1: FLOCK  ADVISORY  WRITE 4242 00:19:1234 0 EOF"
  const holders = read('/proc/locks').split('\n').map((l) => l.split(/\s+/)).filter((x) => x[1] === 'FLOCK' && x[5]?.endsWith(`:${ino}`)).map((x) => Number(x[4]));
  return { held: holders.length > 0, foreign: holders.length > 0 && holders.every((p) => owner(p) === 'foreign') };
}

const ruleLines = (text) => text.split('\n').map((l) => l.replace(/\[\d+:\d+\]/g, '').trim()).filter((l) => l && !l.startsWith('#')).sort();

/** Everything a run could leave behind, with what can be told to be another run's marked foreign. */
export function machineState() {
  const journals = list(JOURNALS).map((name) => {
    const pid = pidOf(name);
    return { name, foreign: Number.isFinite(pid) && owner(pid) === 'foreign', text: read(join(JOURNALS, name)) ?? '' };
  });
  const foreignJournalText = journals.filter((j) => j.foreign).map((j) => j.text).join('\n');
  const netns = out(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter(Boolean).sort().map((name) => {
    const tagged = /^nfst-([0-9a-f]{4})[0-9a-f]{4}$/.exec(name);
    return { name, foreign: (tagged !== null && tagged[1] !== OWNER_TAG) || new RegExp(`\\b${name.replace(/[^\w-]/g, '\\$&')}\\b`).test(foreignJournalText) };
  });
  return {
    netns,
    links: out(['ip', '-o', 'link']).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).filter(Boolean).sort(),
    nftTables: out(['nft', 'list', 'tables']).split('\n').filter(Boolean).sort(),
    // Rules and chains added to a table that was there (the tables themselves are nftTables).
    nftRuleset: ruleLines(out(['nft', 'list', 'ruleset']).replace(/counter packets \d+ bytes \d+/g, 'counter')).filter((l) => !l.startsWith('table ')),
    iptables: ruleLines(out(['iptables-save'])),
    ip6tables: ruleLines(out(['ip6tables-save'])),
    tracefs: tracefs(),
    tracingLock: tracingLock(),
    tracefsUsers: list(TRACEFS_USERS).map((name) => ({ name, foreign: owner(pidOf(name)) === 'foreign' })),
    journals: journals.map(({ name, foreign }) => ({ name, foreign })),
    processes: processes(),
  };
}

const added = (a, b) => b.filter((x) => !a.includes(x));

/**
 * What appeared between two snapshots and is not known to be another run's: one line each, e.g.
 * "netns nfs-1a2b3c-s", "process 4242 bpftrace -e …", "iptables rule added: -A INPUT …".
 * Pure: the attribution was done when the snapshots were taken.
 */
export function stateDiff(before, after) {
  const res = [];
  const names = (xs) => xs.map((x) => x.name);
  for (const n of after.netns) if (!n.foreign && !names(before.netns).includes(n.name)) res.push(`netns ${n.name}`);
  for (const l of added(before.links, after.links)) res.push(`link ${l}`);
  // Tests never touch the root namespace's firewall: a change either way is one.
  for (const t of added(before.nftTables, after.nftTables)) res.push(`nft ${t} (root namespace) added`);
  for (const t of added(after.nftTables, before.nftTables)) res.push(`nft ${t} (root namespace) removed`);
  for (const l of added(before.nftRuleset, after.nftRuleset)) res.push(`nft (root namespace) line added: ${l}`);
  for (const l of added(after.nftRuleset, before.nftRuleset)) res.push(`nft (root namespace) line removed: ${l}`);
  for (const k of ['iptables', 'ip6tables']) {
    for (const l of added(before[k], after[k])) res.push(`${k} rule added: ${l}`);
    for (const l of added(after[k], before[k])) res.push(`${k} rule removed: ${l}`);
  }
  for (const t of after.tracefs) {
    const was = before.tracefs.find((x) => x.mount === t.mount);
    if (!was) {
      // A new mount in use by another live run is that run's (nfscope's shared mount, tools/tracefs.ts).
      if (!after.tracefsUsers.some((u) => u.foreign)) res.push(`tracefs mounted at ${t.mount}`);
      continue;
    }
    if (t.currentTracer !== was.currentTracer) res.push(`tracer at ${t.mount}: ${was.currentTracer} → ${t.currentTracer}`);
    for (const e of added(was.kprobeEvents.split('\n'), t.kprobeEvents.split('\n'))) if (e) res.push(`kprobe event ${e}`);
    if (t.ftraceFilter !== was.ftraceFilter) res.push(`set_ftrace_filter at ${t.mount}: ${JSON.stringify(was.ftraceFilter)} → ${JSON.stringify(t.ftraceFilter)}`);
    for (const e of added(was.setEvent.split('\n'), t.setEvent.split('\n'))) if (e) res.push(`event enabled: ${e}`);
    for (const i of added(was.instances, t.instances)) res.push(`tracefs instance ${t.mount}/instances/${i}`);
  }
  if (after.tracingLock.held && !after.tracingLock.foreign && !before.tracingLock.held) res.push('tracing lock /run/nfscope/tracing.lock held');
  for (const k of ['tracefsUsers', 'journals']) {
    for (const x of after[k]) if (!x.foreign && !names(before[k]).includes(x.name)) res.push(`${k === 'journals' ? 'journal' : 'tracefs user'} ${x.name}`);
  }
  // A zombie holds no probe, no socket, no mount: where PID 1 does not reap (a container) it stays.
  const pids = before.processes.map((p) => p.pid);
  for (const p of after.processes) if (!p.foreign && !p.zombie && !pids.includes(p.pid)) res.push(`process ${p.pid} ${p.cmd}`);
  return res;
}
