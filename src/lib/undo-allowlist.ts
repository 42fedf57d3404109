/**
 * What `nfscope cleanup` may replay from a journal: only the shapes of undo
 * nfscope itself writes. A journal is a file; whoever can plant one must not
 * get a root shell out of `nfscope cleanup` (issue 15). Pure: no I/O.
 *
 * Allowed:
 * - deleting nfscope's own netns (`ip netns del nfs-XXXXXX-c|s`);
 * - deleting its veth ends (`ip [-n nfs-…] link del nfsXXXXXXc|s`);
 * - deleting its firewall rules: `nft delete table ip|ip6 nfscope_NAME_RUNID`, and the
 *   two iptables INPUT rules firewallPlan() adds (the DROP of one port and the
 *   conntrack rule), each with its run's comment (`-m comment --comment nfscope:RUNID`),
 *   inside its own netns or, with --in-place, in the current one or through nsenter in --netns's. A rule without the
 *   comment, or a table without the run id (journals before issue 26), is refused: its
 *   undo could take the user's identical rule or table of that name;
 * - writing back a net.netfilter sysctl the lab's nf_conntrack reload reset
 *   (`tee /proc/sys/net/netfilter/NAME`, the saved value on stdin);
 * - writing to tracefs (`tee` a file under the tracing mount), removing an
 *   ftrace instance of its own, unmounting tracefs;
 * - removing under /run/nfscope;
 * - deleting follow's trace table (`nft delete table inet nfscope_followXXXXXX`), in the
 *   current netns or, through nsenter, in any named one, a process's (/proc/N/ns/net) or a
 *   namespace file under /run (follow runs in the user's: --netns NAME, pid:N, a container, a path);
 * - killing a tracer by pid + comm (bpftrace, trace-cmd, python3, and follow's nft monitor
 *   and conntrack -E).
 */
import type { UndoCommand } from './journal.js';

const NETNS = /^nfs-[0-9a-f]{6}-[cs]$/;
const LINK = /^nfs[0-9a-f]{6}[cs]$/;
const TRACEFS = /^\/sys\/kernel(\/debug)?\/tracing$/;
const TRACEFS_FILE = /^\/sys\/kernel(\/debug)?\/tracing\/(instances\/nfscope-\d+-[0-9a-f]{6}\/)?(options\/)?[a-z_-]+$/;
const INSTANCE = /^\/sys\/kernel(\/debug)?\/tracing\/instances\/nfscope-\d+-[0-9a-f]{6}$/;
const RUN_NFSCOPE = /^\/run\/nfscope\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const NFT_TABLE = /^nfscope_(ct|drop|filter)_[0-9a-f]{6}$/;
/** The comment that tags a run's iptables rules (tools/firewall.ts ruleComment). */
const RULE_COMMENT = /^nfscope:[0-9a-f]{6}$/;
const PORT = /^\d{1,5}$/;
/** model/sysctl-restore.ts NETFILTER_SYSCTL (lib/ does not import model/). */
const NETFILTER_SYSCTL = /^\/proc\/sys\/net\/netfilter\/[a-z0-9_]+(\/[a-z0-9_]+)?$/;

/** Tracers nfscope starts and journals by pid + comm. */
export const KILLABLE_COMMS = new Set(['bpftrace', 'trace-cmd', 'python3', 'nft', 'conntrack', 'sleep']);

/** The lock on the target's global ftrace state (tools/tracing-lock.ts). */
export const TRACING_LOCK = '/run/nfscope/tracing.lock';

/**
 * Comms killed only while the kernel says the process holds nfscope's tracing lock (/proc/locks):
 * its holder is `flock --no-fork` that execs `sleep infinity`, a name anyone's process may have.
 */
export const KILL_ONLY_LOCK_HOLDER = new Set(['sleep']);

const FOLLOW_TABLE = /^nfscope_follow[a-z]{6}$/;
const ANY_NETNS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** follow's trace table: the one undo allowed in a netns that is not nfscope's. */
function followTable(a: string[]): boolean {
  return a.length === 5 && same(a, ['nft', 'delete', 'table', 'inet', a[4]!]) && FOLLOW_TABLE.test(a[4]!);
}

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The iptables rule specs firewallPlan() appends to INPUT (see tools/firewall.ts), each ending with its run's comment. */
function ourIptablesRule(tagged: string[]): boolean {
  const n = tagged.length;
  if (n < 4 || !same(tagged.slice(n - 4, n - 1), ['-m', 'comment', '--comment']) || !RULE_COMMENT.test(tagged[n - 1]!)) return false;
  const spec = tagged.slice(0, n - 4);
  if (same(spec, ['-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])) return true;
  return spec.length === 6 && same([spec[0]!, spec[1]!, spec[2]!, spec[4]!, spec[5]!], ['-p', 'tcp', '--dport', '-j', 'DROP']) && PORT.test(spec[3]!);
}

/** A firewall or link command, without its `nsenter --net=/run/netns/nfs-…` prefix. */
function ourNetCommand(a: string[]): boolean {
  const [cmd, ...rest] = a;
  if (cmd === 'iptables' || cmd === 'ip6tables') return rest[0] === '-D' && rest[1] === 'INPUT' && ourIptablesRule(rest.slice(2));
  if (cmd === 'nft' && followTable(a)) return true;
  if (cmd === 'nft') return rest.length === 4 && rest[0] === 'delete' && rest[1] === 'table' && (rest[2] === 'ip' || rest[2] === 'ip6') && NFT_TABLE.test(rest[3]!);
  if (cmd === 'ip') {
    const r = rest[0] === '-n' && NETNS.test(rest[1] ?? '') ? rest.slice(2) : rest;
    if (r.length === 3 && r[0] === 'link' && r[1] === 'del' && LINK.test(r[2]!)) return true;
    return r.length === 3 && r[0] === 'netns' && r[1] === 'del' && NETNS.test(r[2]!);
  }
  return false;
}

/** null when the undo is one nfscope writes; otherwise why it is refused. */
export function refuseUndo(c: UndoCommand): string | null {
  const a = c.argv;
  if (!Array.isArray(a) || a.length === 0 || !a.every((x) => typeof x === 'string')) return 'not an argv';
  if (c.input !== undefined && (typeof c.input !== 'string' || c.input.length > 65536)) return 'bad input';
  if (c.ifFileEquals && !RUN_NFSCOPE.test(c.ifFileEquals.path)) return 'precondition file outside /run/nfscope';
  const [cmd, ...rest] = a;
  if (cmd === 'nsenter') {
    const m = /^--net=\/run\/netns\/(.+)$/.exec(rest[0] ?? '');
    if (m && NETNS.test(m[1]!) && rest[1] === '--' && ourNetCommand(rest.slice(2))) return null;
    // A namespace that is not nfscope's (follow --netns, trace-syn --in-place --netns: a name, pid:N,
    // a container, a namespace file under /run): only what a run tags as its own (follow's trace
    // table, the run's commented rules and id'd tables, its veth end), deleted in that namespace.
    // Never any other file: cleanup runs as root, and nsenter opens what it is given.
    if (m && ANY_NETNS.test(m[1]!) && !m[1]!.includes('..') && rest[1] === '--' && ourNetCommand(rest.slice(2))) return null;
    const file = /^--net=(\/proc\/\d+\/ns\/net|\/run\/[A-Za-z0-9_.:@+\/-]+)$/.exec(rest[0] ?? '');
    if (file && !file[1]!.split('/').includes('..') && rest[1] === '--' && ourNetCommand(rest.slice(2))) return null;
    return 'nsenter into a namespace that is not nfscope\'s, or a command it never journals';
  }
  if (ourNetCommand(a)) return null;
  if (cmd === 'tee' && rest.length === 1 && TRACEFS_FILE.test(rest[0]!) && !rest[0]!.includes('..')) return null;
  if (cmd === 'tee' && rest.length === 1 && NETFILTER_SYSCTL.test(rest[0]!) && /^[\x20-\x7e\t]*\n?$/.test(c.input ?? '') && (c.input ?? '').length <= 256) return null;
  if (cmd === 'rmdir' && rest.length === 1 && INSTANCE.test(rest[0]!)) return null;
  if (cmd === 'umount' && rest.length === 1 && TRACEFS.test(rest[0]!)) return null;
  if (cmd === 'rm' && rest.length === 2 && (rest[0] === '-f' || rest[0] === '-rf') && RUN_NFSCOPE.test(rest[1]!) && !rest[1]!.includes('..')) return null;
  return 'not an undo nfscope writes';
}

/** null when a journaled kill is one nfscope writes. */
export function refuseKill(k: { pid: unknown; comm: unknown }): string | null {
  if (typeof k.pid !== 'number' || !Number.isInteger(k.pid) || k.pid <= 1) return 'bad pid';
  if (typeof k.comm !== 'string' || !KILLABLE_COMMS.has(k.comm)) return `comm ${JSON.stringify(k.comm)} is not a tracer nfscope starts`;
  return null;
}

/**
 * Whether an undo acts on the network namespace it runs in: a firewall command, a sysctl write under
 * /proc/sys/net, an `ip` command without `-n` or `netns`. Replayed in another netns it would miss
 * its object (and read "already gone"); nsenter'd, `ip -n` and `ip netns` commands name theirs.
 */
export function actsOnCurrentNetns(argv: readonly string[]): boolean {
  const [cmd, a1] = argv;
  if (cmd === 'iptables' || cmd === 'ip6tables' || cmd === 'nft') return true;
  if (cmd === 'tee') return a1?.startsWith('/proc/sys/net/') ?? false;
  if (cmd === 'ip') return a1 !== '-n' && a1 !== 'netns';
  return false;
}
