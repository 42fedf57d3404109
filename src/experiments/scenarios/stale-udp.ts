/**
 * stale-udp: a UDP flow (one socket, a datagram every 50 ms) through a DNAT rule to an old
 * backend port; the rule changed to a new port; a new flow meanwhile; then the flows' conntrack
 * entries deleted. Each window counts the datagrams at both ports. The judges are in
 * judges/scenarios/stale-udp.ts.
 */
import { backendPorts, type StaleUdpInputs, type StaleUdpWindow } from '../../model/scenario.js';
import { staleUdpChange, staleUdpRuleset } from '../../model/scenarios/stale-udp.js';
import { parseConntrackList } from '../../parsers/conntrack.js';
import { sleep } from '../../lib/time.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftLoad } from '../../tools/nft.js';
import { ready } from '../helpers.js';
import type { Session } from '../session.js';
import { checkSent, countsOf } from './common.js';

/** How long each window watches the flow (a datagram every 50 ms). */
const WINDOW_MS = 1000;
const NEW_FLOW = 5;

export async function staleUdp(session: Session, port: number, progress: (m: string) => void): Promise<StaleUdpInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('nft');
  await session.tool('conntrack');
  const [oldPort, newPort] = backendPorts(port);
  return session.run(async (r) => {
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const table = `nfscope_udp_${sb.id}`;
    const udp = await target.bundled('payload/net/udp.py');
    const ct = async () => parseConntrackList((await run(target, inNetns(sb.server, ['conntrack', '-L', '-p', 'udp', '--orig-src', sb.clientAddr]), { timeoutMs: 20_000 })).stdout);
    const counts = () => countsOf(target, sb, table, ['old', 'new']);
    const window = async (what: string, during?: () => Promise<void>): Promise<StaleUdpWindow> => {
      const a = await counts();
      await (during ? Promise.all([during(), sleep(WINDOW_MS)]) : sleep(WINDOW_MS));
      const b = await counts();
      // A flow that ended is a failed workload, never a window in which nothing went anywhere.
      if (flowEnded !== null) throw new Error(`the UDP flow ended before the scenario did (${flowEnded})`);
      return { what, old: b.old! - a.old!, new: b.new! - a.new!, conntrack: await ct() };
    };
    // In the sandbox's own netns: the table goes with it.
    progress(`DNAT udp ${port} → ${oldPort} (the old backend), and a UDP flow, a datagram every 50 ms`);
    await nftLoad(target, sb.server, staleUdpRuleset(table, sb.clientAddr, sb.serverAddr, port, oldPort, oldPort, newPort));
    const flowP = await ready(target, inNetns(sb.client, [python, udp, 'flow', sb.serverAddr, String(port), '120']), 'UDP flow', r.cleanup);
    let flowEnded: string | null = null;
    void flowP.done.then((x) => (flowEnded = `exit ${x.exitCode ?? x.signal ?? 'unknown'}: ${x.stderr.trim().split('\n').slice(-2).join(' ')}`));
    const before = await window(`DNAT to the old backend (${oldPort}), the flow running`);
    progress(`the DNAT rule changed to ${newPort} (the new backend)`);
    await nftLoad(target, sb.server, staleUdpChange(table, sb.clientAddr, sb.serverAddr, port, newPort));
    const stale = await window(`the DNAT rule changed to the new backend (${newPort}), the flow going on`);
    progress(`a new flow of ${NEW_FLOW} datagrams`);
    let sent = NaN;
    const newFlow = { ...(await window(`a new flow of ${NEW_FLOW} datagrams from another socket, the old flow going on`, async () => {
      const argv = inNetns(sb.client, [python, udp, 'once', sb.serverAddr, String(port), String(NEW_FLOW)]);
      sent = checkSent(argv, (await run(target, argv, { timeoutMs: 30_000 })).stdout, NEW_FLOW);
    })), sent };
    progress(`conntrack -D -p udp --orig-port-dst ${port}`);
    const del = await run(target, inNetns(sb.server, ['conntrack', '-D', '-p', 'udp', '--orig-src', sb.clientAddr, '--orig-port-dst', String(port)]), { timeoutMs: 20_000 });
    // A datagram already past NAT when the entry went is the old one's: the window starts after it.
    await sleep(200);
    const deleted = { ...(await window('the flows\' conntrack entries deleted, the flow going on')), deleteOutput: del.stdout + del.stderr };
    return { port, oldPort, newPort, before, stale, newFlow, deleted };
  });
}
