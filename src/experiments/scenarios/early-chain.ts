/**
 * early-chain: a live TCP connection into the server netns, a prerouting chain of ct state
 * counters at -300 (before conntrack), then the same chain at -190 (after it), on the same
 * connection. The judges are in judges/scenarios/early-chain.ts.
 */
import type { EarlyChainInputs, EarlyChainPhase } from '../../model/scenario.js';
import { EARLY_PRIORITY, EARLY_TABLE_PREFIX, FIXED_PRIORITY, earlyChainRuleset } from '../../model/scenarios/early-chain.js';
import { parseConntrackList } from '../../parsers/conntrack.js';
import { sleep } from '../../lib/time.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftDeleteTableArgv, nftLoad } from '../../tools/nft.js';
import { ready } from '../helpers.js';
import type { Session } from '../session.js';
import { countsOf, listingOf } from './common.js';

const COUNTERS = ['seen', 'established', 'new', 'invalid', 'untracked'] as const;
/** How long each phase watches the connection (one packet every 50 ms). */
const WINDOW_MS = 1500;

export async function earlyChain(session: Session, port: number, progress: (m: string) => void): Promise<EarlyChainInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('nft');
  await session.tool('conntrack');
  return session.run(async (r) => {
    // The listing server compiles while the sandbox and the connection are made (3-5 s under qemu TCG with its BTF subset, 12-20 s without).
    r.warmHooks(progress);
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const table = `${EARLY_TABLE_PREFIX}${sb.id}`;
    const phase = async (priority: number): Promise<EarlyChainPhase> => {
      const ruleset = earlyChainRuleset(table, priority, sb.clientAddr, port);
      progress(`a prerouting chain of ct state counters at priority ${priority}`);
      // In the sandbox's own netns: the table goes with it; deleted here only to make way for the next phase.
      await nftLoad(target, sb.server, ruleset);
      await sleep(WINDOW_MS);
      const counts = await countsOf(target, sb, table, COUNTERS);
      const ct = await run(target, inNetns(sb.server, ['conntrack', '-L', '-p', 'tcp', '--dport', String(port)]), { timeoutMs: 20_000 });
      const listing = await listingOf(r, sb, progress);
      await run(target, nftDeleteTableArgv(sb.server, 'ip', table));
      return { priority, counts, conntrack: parseConntrackList(ct.stdout), listing, ruleset };
    };
    const flow = await target.bundled('payload/net/flow.py');
    progress(`a TCP connection ${sb.clientAddr} → ${sb.serverAddr}:${port}, one packet every 50 ms`);
    await ready(target, inNetns(sb.server, [python, flow, 'serve', sb.serverAddr, String(port)]), 'flow server', r.cleanup);
    // Conntrack picks the connection up mid-flow once the first chain's ct rules register it (nf_conntrack_tcp_loose).
    await ready(target, inNetns(sb.client, [python, flow, 'talk', sb.serverAddr, String(port), '300']), 'flow client', r.cleanup);
    const early = await phase(EARLY_PRIORITY);
    const fixed = await phase(FIXED_PRIORITY);
    return { port, early, fixed };
  });
}
