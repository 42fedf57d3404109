import { randomBytes } from 'node:crypto';
import type { Cleanup } from '../lib/cleanup.js';
import { firewallPlan, type Firewall, type FirewallPlan, type IpFamily } from '../tools/firewall.js';
import { inNetns, NETNS_DIR, type NetnsRef } from '../tools/netns.js';
import { run } from '../tools/run.js';
import type { Target } from '../targets/target.js';

/** A client and a server netns joined by a veth pair, the server behind a DROP rule. */
export interface Sandbox {
  id: string;
  client: NetnsRef & { kind: 'named' };
  server: NetnsRef & { kind: 'named' };
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

/**
 * Builds the sandbox. Each change registers its undo before it is made; the
 * namespaces go last and take their links and rules with them.
 */
export async function createSandbox(target: Target, cleanup: Cleanup, spec: SandboxSpec): Promise<Sandbox> {
  const rnd = randomBytes(6);
  const id = rnd.subarray(0, 3).toString('hex');
  const client = { kind: 'named' as const, name: `nfs-${id}-c` };
  const server = { kind: 'named' as const, name: `nfs-${id}-s` };
  const clientIf = `nfs${id}c`;
  const serverIf = `nfs${id}s`;
  const addr = sandboxAddresses(spec.family, rnd.subarray(3));

  for (const ns of [client, server]) {
    cleanup.push(`ip netns del ${ns.name}`, async () => {
      await run(target, ['ip', 'netns', 'del', ns.name]);
    });
    await run(target, ['ip', 'netns', 'add', ns.name]);
  }
  cleanup.push(`ip link del ${clientIf}`, async () => {
    // Deleting either end deletes the pair; gone already if the netns went first.
    await target.exec(['ip', '-n', client.name, 'link', 'del', clientIf]);
  });
  await run(target, ['ip', '-n', client.name, 'link', 'add', clientIf, 'type', 'veth', 'peer', 'name', serverIf, 'netns', server.name]);

  const v6 = spec.family === 'ipv6';
  const ends: [typeof client, string, string][] = [[client, clientIf, addr.client], [server, serverIf, addr.server]];
  for (const [ns, ifname, a] of ends) {
    await run(target, ['ip', '-n', ns.name, 'link', 'set', 'lo', 'up']);
    // nodad: no 1-2 s of duplicate address detection before the address works.
    await run(target, ['ip', '-n', ns.name, 'addr', 'add', `${a}/${addr.prefix}`, 'dev', ifname, ...(v6 ? ['nodad'] : [])]);
    await run(target, ['ip', '-n', ns.name, 'link', 'set', ifname, 'up']);
  }
  // Static neighbours: the first SYN is not held back by ARP/ND, so every SYN
  // sent is a SYN that reaches the server's hooks at once.
  const mac = async (ns: string, ifname: string) =>
    (JSON.parse((await run(target, ['ip', '-j', '-n', ns, 'link', 'show', ifname])).stdout) as { address: string }[])[0]!.address;
  const [cmac, smac] = [await mac(client.name, clientIf), await mac(server.name, serverIf)];
  await run(target, ['ip', '-n', client.name, 'neigh', 'replace', addr.server, 'lladdr', smac, 'dev', clientIf, 'nud', 'permanent']);
  await run(target, ['ip', '-n', server.name, 'neigh', 'replace', addr.client, 'lladdr', cmac, 'dev', serverIf, 'nud', 'permanent']);

  // Rules live in the server netns and vanish with it (undo registered above).
  const plan = firewallPlan(spec.firewall, spec.family, spec.port, spec.afterConfirm);
  for (const s of plan.steps) await run(target, inNetns(server, s.argv));

  const serverInode = (await run(target, ['stat', '-L', '-c', '%i', `${NETNS_DIR}/${server.name}`])).stdout.trim();
  return { id, client, server, clientIf, serverIf, clientAddr: addr.client, serverAddr: addr.server, serverInode, firewall: plan };
}
