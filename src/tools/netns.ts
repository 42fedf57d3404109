import { CommandFailedError, UsageError } from '../lib/errors.js';
import type { Target } from '../targets/target.js';

/** Named network namespaces live here (iproute2's convention). */
export const NETNS_DIR = '/run/netns';

/** A netns to run in: a named one, or the one nfscope itself runs in. */
export type NetnsRef = { kind: 'current' } | { kind: 'named'; name: string };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Syntax check only: a netns name never contains a path separator or `..`. */
export function validNetnsName(name: string): boolean {
  return NAME_RE.test(name) && !name.includes('..');
}

/**
 * Prefixes argv so it runs inside the namespace. nsenter, not `ip netns exec`:
 * the latter remounts /sys, and tracefs (which bpftrace needs) vanishes with it.
 */
export function inNetns(ns: NetnsRef, argv: string[]): string[] {
  if (ns.kind === 'current') return argv;
  return ['nsenter', `--net=${NETNS_DIR}/${ns.name}`, '--', ...argv];
}

export function netnsLabel(ns: NetnsRef): string {
  return ns.kind === 'current' ? '(current)' : ns.name;
}

export async function listNamedNetns(target: Target): Promise<string[]> {
  const names = (await target.listDir(NETNS_DIR)) ?? [];
  return names.filter(validNetnsName).sort();
}

/** Validates --netns: syntax first, then existence on the target. Exit 2 otherwise. */
export async function resolveNetns(target: Target, name: string | undefined): Promise<NetnsRef> {
  if (name === undefined) return { kind: 'current' };
  if (!validNetnsName(name)) {
    throw new UsageError(`invalid --netns ${JSON.stringify(name)}: a namespace name is letters, digits, '_', '.', '-'`);
  }
  const known = await listNamedNetns(target);
  if (!known.includes(name)) {
    throw new UsageError(
      `unknown network namespace '${name}' (known: ${known.length ? known.join(', ') : 'none'}; see 'ip netns list')`,
    );
  }
  return { kind: 'named', name };
}

/** The namespace's inode number (what bpftrace programs compare net->ns.inum with). */
export async function netnsInode(target: Target, ns: NetnsRef): Promise<string> {
  const argv = ['stat', '-L', '-c', '%i', ns.kind === 'named' ? `${NETNS_DIR}/${ns.name}` : '/proc/self/ns/net'];
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
