import { runRandomBytes } from '../lib/run-random.js';
import { allSettledOrThrow } from '../lib/settled.js';
import type { Cleanup } from '../lib/cleanup.js';
import { firewallPlan, type Firewall, type FirewallPlan, type IpFamily } from '../tools/firewall.js';
import { inNetns, netnsInode, type NetnsRef } from '../tools/netns.js';
import { run } from '../lib/run.js';
import type { Target } from '../targets/target.js';

/** A client and a server netns joined by a veth pair, the server behind a DROP rule. */
export interface Sandbox {
  id: string;
  client: NetnsRef & { kind: 'named' };
  /** A netns of nfscope's, or with --in-place the target's own (the current one, or --netns's). */
  server: NetnsRef;
  inPlace: boolean;
  clientIf: string;
  serverIf: string;
  clientAddr: string;
  serverAddr: string;
  serverInode: string;
  firewall: FirewallPlan;
}

export interface SandboxSpec {
  family: IpFamily;
  port: number;
  firewall: Firewall;
  afterConfirm: boolean;
  /** No firewall rule at all: the registration step watches conntrack before anything needs it. */
  bare?: boolean;
  /** The server is the target's own netns and firewall; only the client netns is nfscope's. */
  inPlace?: boolean;
  /** With inPlace, the namespace that is the server (the current one when absent). */
  inPlaceNetns?: NetnsRef;
}

/** Addresses from test ranges, random per run so concurrent runs never collide. */
export function sandboxAddresses(family: IpFamily, rnd: Buffer): { client: string; server: string; prefix: number } {
  if (family === 'ipv4') {
    // 198.18.0.0/15 (RFC 2544, benchmarking): never routed, only inside our namespaces.
    const base = `198.${18 + (rnd[0]! & 1)}.${rnd[1]}`;
    const host = rnd[2]! & 0xfc;
    return { client: `${base}.${host + 1}`, server: `${base}.${host + 2}`, prefix: 30 };
  }
  // A ULA /64 (fd00::/8) with random bits: only inside our namespaces.
  const hex = rnd.toString('hex');
  const net = `fd6e:${hex.slice(0, 4)}:${hex.slice(4, 6)}00:1`;
  return { client: `${net}::1`, server: `${net}::2`, prefix: 64 };
}

/** A veth end's MAC address: locally administered unicast (02:…), the sandbox's id, the end (1 client, 2 server). */
export function sandboxMac(id: string, end: 1 | 2): string {
  return `02:6e:0${end}:${id.match(/../g)!.join(':')}`;
}

/**
 * Builds the sandbox. Each change registers its undo before it is made; the
 * namespaces go last and take their links and rules with them.
 */
export async function createSandbox(target: Target, cleanup: Cleanup, spec: SandboxSpec): Promise<Sandbox> {
  const rnd = runRandomBytes(6);
  const id = rnd.subarray(0, 3).toString('hex');
  const client = { kind: 'named' as const, name: `nfs-${id}-c` };
  const server: NetnsRef = spec.inPlace ? (spec.inPlaceNetns ?? { kind: 'current' }) : { kind: 'named', name: `nfs-${id}-s` };
  const clientIf = `nfs${id}c`;
  const serverIf = `nfs${id}s`;
  const addr = sandboxAddresses(spec.family, rnd.subarray(3));
  /** A netns nfscope made for this run (the client; the server unless in place). */
  const ours = (ns: NetnsRef): ns is NetnsRef & { kind: 'named' } => ns === client || (!spec.inPlace && ns.kind === 'named');
  /**
   * `ip` in a netns: -n NAME in ours, plain in the current one, through nsenter in an in-place
   * --netns (what `nfscope cleanup` replays there is nsenter'd, undo-allowlist.ts).
   */
  const ipIn = (ns: NetnsRef, args: string[]) => (ours(ns) ? ['ip', '-n', ns.name, ...args] : inNetns(ns, ['ip', ...args]));

  // One after the other: iproute2 before its /run/netns lock could stack two mounts of /run/netns
  // when two `ip netns add` made it at once.
  for (const ns of [client, server]) {
    if (!ours(ns)) continue;
    cleanup.undoWith(`ip netns del ${ns.name}`, target, [{ argv: ['ip', 'netns', 'del', ns.name] }]);
    await cleanup.making(`ip netns add ${ns.name}`, () => run(target, ['ip', 'netns', 'add', ns.name]));
  }

  // The server end is made where the server lives; the peer goes to the client netns.
  // Deleting either end deletes the pair; gone already if a netns went first (tolerated).
  // Both ends get their addresses here (locally administered, this sandbox's id in them): the
  // static neighbours below need no read-back of what the kernel chose.
  const [cmac, smac] = [sandboxMac(id, 1), sandboxMac(id, 2)];
  cleanup.undoWith(`ip link del ${serverIf}`, target, [{ argv: ipIn(server, ['link', 'del', serverIf]) }], true);
  await cleanup.making(`ip link add ${serverIf}`, () => run(target, ipIn(server, ['link', 'add', serverIf, 'address', smac, 'type', 'veth', 'peer', 'name', clientIf, 'address', cmac, 'netns', client.name])));

  const v6 = spec.family === 'ipv6';
  // Static neighbours: the first SYN is not held back by ARP/ND, so every SYN
  // sent is a SYN that reaches the server's hooks at once.
  const ends: [NetnsRef, string, string, string, string][] = [
    [client, clientIf, addr.client, addr.server, smac],
    [server, serverIf, addr.server, addr.client, cmac],
  ];
  // The two ends are independent of each other: set up at once, each in its own order.
  await allSettledOrThrow(ends.map(async ([ns, ifname, a, peer, peerMac]) => {
    // Ours only: an in-place server's loopback is the user's.
    if (ours(ns)) await run(target, ipIn(ns, ['link', 'set', 'lo', 'up']));
    // nodad: no 1-2 s of duplicate address detection before the address works.
    await run(target, ipIn(ns, ['addr', 'add', `${a}/${addr.prefix}`, 'dev', ifname, ...(v6 ? ['nodad'] : [])]));
    await run(target, ipIn(ns, ['link', 'set', ifname, 'up']));
    await run(target, ipIn(ns, ['neigh', 'replace', peer, 'lladdr', peerMac, 'dev', ifname, 'nud', 'permanent']));
  }));

  // In a sandbox the rules vanish with the server netns; in place, each has its undo, which names
  // the rule by this run's id (its comment, its table's name), never by a spec the user may share.
  const plan = firewallPlan(spec.firewall, spec.family, spec.port, spec.afterConfirm, id);
  for (const s of spec.bare ? [] : plan.steps) {
    if (s.undo) {
      cleanup.undoWith(`undo: ${s.what}`, target, [{ argv: inNetns(server, s.undo) }]);
    }
    await cleanup.making(s.what, () => run(target, inNetns(server, s.argv)));
  }

  const serverInode = await netnsInode(target, server);
  return {
    id, client, server, inPlace: Boolean(spec.inPlace), clientIf, serverIf,
    clientAddr: addr.client, serverAddr: addr.server, serverInode, firewall: plan,
  };
}
