import { CommandFailedError, UsageError } from '../lib/errors.js';
import { requireTool } from '../lib/packages.js';
import type { Target } from '../targets/target.js';

/** Named network namespaces live here (iproute2's convention). */
export const NETNS_DIR = '/run/netns';

/**
 * A netns to run in: a named one, one reached through a file (a process's /proc/PID/ns/net, a
 * bind mount: a container's namespace has no name), or the one nfscope itself runs in. label is
 * how the user gave it (`pid:4242`).
 */
export type NetnsRef = { kind: 'current' } | { kind: 'named'; name: string } | NetnsFile;
export type NetnsFile = { kind: 'path'; path: string; label: string };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const PATH_RE = /^\/[A-Za-z0-9_.:@+\/-]*$/;
/** The kernel's highest pid_max (PID_MAX_LIMIT on 64-bit). */
const PID_MAX_LIMIT = 4_194_304;

/** Syntax check only: a netns name never contains a path separator or `..`. */
export function validNetnsName(name: string): boolean {
  return NAME_RE.test(name) && !name.includes('..');
}

/** A container's namespace, asked of its runtime's own CLI: the pid of its first process. */
export type NetnsContainer = { kind: 'container'; runtime: 'docker' | 'podman' | 'cri'; id: string; label: string };
const CONTAINER_RE = /^(docker|podman|cri):([A-Za-z0-9][A-Za-z0-9_.-]{0,254})$/;

/**
 * --netns as typed, checked for its form only (exit 2 before anything runs): a name from `ip netns
 * list`, pid:N (that process's namespace, /proc/N/ns/net), an absolute path to a namespace file,
 * or a container: docker:NAME, podman:NAME (a name or an id), cri:ID (a container of a CRI runtime,
 * containerd's or CRI-O's, as `crictl ps` lists it: a pod's containers share its namespace).
 */
export function parseNetnsArg(value: string): { kind: 'named'; name: string } | NetnsFile | NetnsContainer {
  const shown = JSON.stringify(value.slice(0, 60));
  const c = CONTAINER_RE.exec(value);
  if (c) return { kind: 'container', runtime: c[1] as NetnsContainer['runtime'], id: c[2]!, label: value };
  if (/^(docker|podman|cri):/.test(value)) throw new UsageError(`invalid --netns ${shown}: a container's name or id is letters, digits, '_', '.', '-'`);
  const pid = /^pid:(\d{1,7})$/.exec(value);
  if (pid) {
    const n = Number(pid[1]);
    if (n < 1 || n > PID_MAX_LIMIT) throw new UsageError(`invalid --netns ${shown}: a pid is 1 to ${PID_MAX_LIMIT}`);
    return { kind: 'path', path: `/proc/${n}/ns/net`, label: value };
  }
  if (value.startsWith('/')) {
    // The paths namespace files have (/proc/N/ns/net, /run/netns/X, /run/docker/netns/ID,
    // /run/user/UID/netns/netns-UUID): a narrow alphabet, so a value meant for a shell is refused here.
    if (!PATH_RE.test(value) || value.split('/').includes('..') || value.length > 4096) {
      throw new UsageError(`invalid --netns ${shown}: a namespace file's path is absolute, of letters, digits and _ . : @ + - /, without '..'`);
    }
    return { kind: 'path', path: value, label: value };
  }
  if (!validNetnsName(value)) {
    throw new UsageError(`invalid --netns ${shown}: a name from 'ip netns list' (letters, digits, '_', '.', '-'), pid:N, the absolute path of a namespace file (/proc/PID/ns/net, a bind mount), docker:NAME, podman:NAME or cri:ID`);
  }
  return { kind: 'named', name: value };
}

/**
 * Prefixes argv so it runs inside the namespace. nsenter, not `ip netns exec`:
 * the latter remounts /sys, and tracefs (which bpftrace needs) vanishes with it.
 */
export function inNetns(ns: NetnsRef, argv: string[]): string[] {
  if (ns.kind === 'current') return argv;
  return ['nsenter', `--net=${netnsFile(ns)}`, '--', ...argv];
}

/** The file that is the namespace: its /run/netns name, or the path it was given by. */
function netnsFile(ns: Exclude<NetnsRef, { kind: 'current' }>): string {
  return ns.kind === 'named' ? `${NETNS_DIR}/${ns.name}` : ns.path;
}

export function netnsLabel(ns: NetnsRef): string {
  return ns.kind === 'current' ? '(current)' : ns.kind === 'named' ? ns.name : ns.label;
}

export async function listNamedNetns(target: Target): Promise<string[]> {
  const names = (await target.listDir(NETNS_DIR)) ?? [];
  return names.filter(validNetnsName).sort();
}

/**
 * Validates --netns: its form first, then that the target has it. Exit 2 otherwise. A namespace
 * file must be one nsenter can enter as a network namespace (asked of nsenter itself, whose words
 * say why not: no such process, not a network namespace).
 */
export async function resolveNetns(target: Target, value: string | undefined): Promise<NetnsRef> {
  if (value === undefined) return { kind: 'current' };
  const parsed = parseNetnsArg(value);
  const arg = parsed.kind === 'container' ? await containerNetns(target, parsed) : parsed;
  if (arg.kind === 'path') {
    await requireTool(target, 'nsenter');
    const argv = ['nsenter', `--net=${arg.path}`, '--', 'true'];
    const r = await target.exec(argv, { timeoutMs: 15_000 });
    if (r.timedOut || (r.exitCode !== 0 && r.exitCode !== 1)) throw new CommandFailedError(argv, r.exitCode, r.stderr);
    // nsenter exits 1 for a namespace it could not open or enter, and says why.
    if (r.exitCode === 1) throw new UsageError(`--netns ${arg.label}: not a network namespace nfscope can enter: ${r.stderr.trim().split('\n').pop()}`);
    return arg;
  }
  const name = arg.name;
  const known = await listNamedNetns(target);
  if (!known.includes(name)) {
    throw new UsageError(
      `unknown network namespace '${name}' (known: ${known.length ? known.join(', ') : 'none'}; see 'ip netns list')`,
    );
  }
  return { kind: 'named', name };
}

/**
 * The runtime's own question for a container's first process (its pid in the target's pid
 * namespace): `container inspect`, as a bare `inspect` would also answer for an image of that name.
 */
export function pidQuery(c: NetnsContainer, cli: string): string[] {
  // crictl (cri-tools 1.x): `inspect` is a container's, and its info.pid the container's first
  // process as containerd and CRI-O report it (verbose info, on by default).
  if (c.runtime === 'cri') return [cli, 'inspect', '--output', 'go-template', '--template', '{{.info.pid}}', c.id];
  return [cli, 'container', 'inspect', '--format', '{{.State.Pid}}', c.id];
}

/** The program that answers for a runtime: its own CLI, crictl for a CRI runtime. */
const RUNTIME_CLI = { docker: 'docker', podman: 'podman', cri: 'crictl' } as const;

/**
 * A container's namespace file: /proc/PID/ns/net of its first process, as its runtime reports it.
 * No runtime: a ToolMissingError naming its package. A container it does not know, or one not
 * running (pid 0): exit 2 with the runtime's words.
 */
async function containerNetns(target: Target, c: NetnsContainer): Promise<NetnsFile> {
  const cli = await requireTool(target, RUNTIME_CLI[c.runtime]);
  const argv = pidQuery(c, cli);
  const r = await target.exec(argv, { timeoutMs: 30_000 });
  if (r.timedOut) throw new CommandFailedError(argv, r.exitCode, `${r.stderr}(timed out)`);
  if (r.exitCode !== 0) throw new UsageError(`--netns ${c.label}: ${RUNTIME_CLI[c.runtime]} does not give its process: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}`}`);
  const pid = r.stdout.trim();
  if (!/^\d+$/.test(pid)) throw new CommandFailedError(argv, r.exitCode, `not a pid: ${JSON.stringify(pid.slice(0, 80))}`);
  if (pid === '0') throw new UsageError(`--netns ${c.label}: the container is not running (its runtime gives pid 0)`);
  return { kind: 'path', path: `/proc/${pid}/ns/net`, label: c.label };
}

/** The namespace's inode number (what bpftrace programs compare net->ns.inum with). */
export async function netnsInode(target: Target, ns: NetnsRef): Promise<string> {
  const argv = ['stat', '-L', '-c', '%i', ns.kind === 'current' ? '/proc/self/ns/net' : netnsFile(ns)];
  const r = await target.exec(argv);
  const inode = r.stdout.trim();
  if (r.exitCode !== 0 || !/^\d+$/.test(inode)) throw new CommandFailedError(argv, r.exitCode, r.stderr || `not an inode number: ${JSON.stringify(inode.slice(0, 40))}`);
  return inode;
}

/** A device's index inside the namespace, or a UsageError when it has none of that name. */
export async function ifindexIn(target: Target, ns: NetnsRef, iface: string): Promise<number> {
  const r = await target.exec(inNetns(ns, ['ip', '-o', 'link', 'show', 'dev', iface]));
  const m = /^(\d+):/.exec(r.stdout);
  if (r.exitCode !== 0 || !m) throw new UsageError(`no interface ${iface} in netns ${netnsLabel(ns)}`);
  return Number(m[1]);
}
