/**
 * udp-race: UDP_RACE_FLOWS flows, each two datagrams sent at the same moment from two CPUs
 * (payload/net/race.py), through DNAT to one backend, then to one of two at random; then the same
 * with a socket per datagram. Sockets on both backend ports count what got past conntrack's
 * confirmation (payload/net/udpsink.py). The judges are in judges/scenarios/udp-race.ts.
 */
import { backendPorts, type UdpRaceInputs, type UdpRacePhase } from '../../model/scenario.js';
import { UDP_RACE_FLOWS, udpRaceRuleset } from '../../model/scenarios/udp-race.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftDeleteTableArgv, nftLoad } from '../../tools/nft.js';
import { ready } from '../helpers.js';
import type { Session } from '../session.js';
import type { Sandbox } from '../sandbox.js';
import type { Target } from '../../targets/target.js';
import { countsOf, ctTableState, lastJsonLine } from './common.js';

export async function udpRace(session: Session, port: number, progress: (m: string) => void): Promise<UdpRaceInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('nft');
  await session.tool('conntrack');
  const [a, b] = backendPorts(port);
  // Two CPUs, or there is no race to run: not observable here, with the count the target gives
  // (the CPUs a process may run on, as race.py will count them; nproc heeds OMP_NUM_THREADS).
  const argv = [python, '-c', 'import os; print(len(os.sched_getaffinity(0)))'];
  const cpus = (await run(target, argv, { timeoutMs: 20_000 })).stdout.trim();
  if (!/^\d+$/.test(cpus)) throw new Error(`${argv.join(' ')}: ${JSON.stringify(cpus.slice(0, 40))}, not a number`);
  if (Number(cpus) < 2) return { port, notRun: `the race needs two datagrams on two CPUs at once, and this target runs nfscope's processes on ${cpus} CPU` };
  return session.run(async (r) => {
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    let cpus: number[] = [];
    const phase = async (what: string, backends: number[], sockets: 'one' | 'two'): Promise<UdpRacePhase> => {
      progress(`${what}: ${UDP_RACE_FLOWS} flows, two datagrams each from two CPUs at once`);
      // In the sandbox's own netns: the table goes with it. A table a phase: its counter starts at 0.
      const table = `nfscope_race_${sb.id}`;
      await nftLoad(target, sb.server, udpRaceRuleset(table, sb.clientAddr, sb.serverAddr, port, backends));
      // The phase before's entries go: a reused source port would find one and take no NAT, no race.
      await run(target, inNetns(sb.server, ['conntrack', '-F']), { timeoutMs: 20_000 });
      const sink = await ready(target, inNetns(sb.server, [python, await target.bundled('payload/net/udpsink.py'), sb.serverAddr, String(a), String(b)]), 'udpsink.py', r.cleanup);
      const lines: string[] = [];
      sink.onLine((l) => lines.push(l));
      const before = await ctTableState(target, sb);
      const argv = inNetns(sb.client, [python, await target.bundled('payload/net/race.py'), sb.serverAddr, String(port), String(UDP_RACE_FLOWS), sockets]);
      const sent = lastJsonLine(argv, (await run(target, argv, { timeoutMs: 120_000 })).stdout);
      // The last datagrams' way to the sockets: settled once conntrack's view is read.
      const after = await ctTableState(target, sb);
      const counts = await countsOf(target, sb, table, ['dnat']);
      const end = await sink.stop(3000);
      if (end.exitCode !== 0) throw new Error(`udpsink.py: exit ${end.exitCode ?? end.signal}: ${end.stderr.trim().split('\n').slice(-1).join('')}`);
      const got = lastJsonLine(sink.argv, lines.join('\n'));
      await run(target, nftDeleteTableArgv(sb.server, 'ip', table));
      const received = got.received as Record<string, number> | undefined;
      if (!received || !Object.values(received).every((n) => Number.isInteger(n))) throw new Error(`udpsink.py: ${JSON.stringify(got).slice(0, 160)}: no counts per port`);
      if (sent.sent !== 2 * UDP_RACE_FLOWS || !Number.isInteger(sent.flows) || !Array.isArray(sent.cpus)) throw new Error(`${argv.join(' ')}: ${JSON.stringify(sent).slice(0, 160)}, not ${2 * UDP_RACE_FLOWS} datagrams sent`);
      cpus = sent.cpus as number[];
      return { what, sockets, backends, sent: sent.sent, flows: sent.flows as number, received, counts, before, after };
    };
    const oneBackend = await phase(`DNAT ${port} → ${a}, one socket a flow`, [a], 'one');
    const twoBackends = await phase(`DNAT ${port} → ${a} or ${b} at random, one socket a flow`, [a, b], 'one');
    const socketPerQuery = await phase(`DNAT ${port} → ${a} or ${b} at random, a socket per datagram (the fix)`, [a, b], 'two');
    return { port, cpus, oneBackend, twoBackends, socketPerQuery };
  });
}
