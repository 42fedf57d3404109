/**
 * notrack: 5 SYNs to a port that a DNAT rule sends to another, with a notrack chain before
 * conntrack, then 5 more without it. The judges are in judges/scenarios/notrack.ts.
 */
import { backendPorts, type NotrackInputs, type NotrackPhase } from '../../model/scenario.js';
import { LATE_PRIORITY, notrackBaseRuleset, notrackRawRuleset, RAW_PRIORITY } from '../../model/scenarios/notrack.js';
import { parseConntrackList } from '../../parsers/conntrack.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftDeleteTableArgv, nftLoad } from '../../tools/nft.js';
import type { Session } from '../session.js';
import { countsOf, sendSyns } from './common.js';
import { ready } from '../helpers.js';

const SYNS = 5;
const BASE = ['dnat', 'untracked', 'to-port', 'to-new-port'] as const;

export async function notrack(session: Session, port: number, progress: (m: string) => void): Promise<NotrackInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('nft');
  await session.tool('conntrack');
  const [newPort] = backendPorts(port);
  return session.run(async (r) => {
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const base = `nfscope_nat_${sb.id}`;
    const raw = `nfscope_raw_${sb.id}`;
    // Tables in the sandbox's own netns go with it; each phase loads its own, so its counters start at 0.
    const phase = async (priority: number | null): Promise<NotrackPhase> => {
      const withNotrack = priority !== null;
      const ruleset = notrackBaseRuleset(base, sb.clientAddr, sb.serverAddr, port, newPort) + (withNotrack ? notrackRawRuleset(raw, sb.clientAddr, port, priority) : '');
      progress(`DNAT ${port} → ${newPort}${withNotrack ? `, and notrack at priority ${priority}` : ', no notrack'}; sending ${SYNS} SYNs`);
      await nftLoad(target, sb.server, ruleset);
      // The netns's entries of the phase before (their connections closing) go: conntrack -L then lists this phase's.
      await run(target, inNetns(sb.server, ['conntrack', '-F']), { timeoutMs: 20_000 });
      const syns = await sendSyns(target, python, sb, port, SYNS);
      const counts = { ...(await countsOf(target, sb, base, BASE)), ...(withNotrack ? await countsOf(target, sb, raw, ['notrack']) : {}) };
      const ct = await run(target, inNetns(sb.server, ['conntrack', '-L', '-p', 'tcp', '--orig-src', sb.clientAddr]), { timeoutMs: 20_000 });
      await run(target, nftDeleteTableArgv(sb.server, 'ip', base));
      if (withNotrack) await run(target, nftDeleteTableArgv(sb.server, 'ip', raw));
      return { notrack: withNotrack, notrackPriority: priority, sent: syns.sent, syns, counts, conntrack: parseConntrackList(ct.stdout), ruleset };
    };
    // A listener on the new port: a translated SYN connects (and its entry stays in the table, where a
    // SYN answered by a RST has its entry killed at once); an untranslated one is refused by the old port.
    await ready(target, inNetns(sb.server, [python, await target.bundled('payload/net/listen.py'), sb.serverAddr, String(newPort)]), 'listener', r.cleanup);
    const problem = await phase(RAW_PRIORITY);
    const late = await phase(LATE_PRIORITY);
    const fixed = await phase(null);
    return { port, newPort, problem, late, fixed };
  });
}
