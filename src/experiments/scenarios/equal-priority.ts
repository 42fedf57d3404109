/**
 * equal-priority: two prerouting chains (tables a and b of this run) that each count the SYNs they
 * see unmarked, then mark them; rounds of SYNs after each change of registration. The judges are
 * in judges/scenarios/equal-priority.ts.
 */
import type { EqualPriorityInputs, EqualPriorityRound } from '../../model/scenario.js';
import { FIX_PRIORITY_A, SHARED_PRIORITY, equalPriorityTable } from '../../model/scenarios/equal-priority.js';
import { run } from '../../lib/run.js';
import { nftDeleteTableArgv, nftLoad } from '../../tools/nft.js';
import type { Session } from '../session.js';
import { countsOf, listingOf, sendSyns } from './common.js';

const SYNS = 5;
const MARK = { a: 10, b: 11 } as const;

export async function equalPriority(session: Session, port: number, progress: (m: string) => void): Promise<EqualPriorityInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('nft');
  return session.run(async (r) => {
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const name = (t: 'a' | 'b') => `nfscope_${t}_${sb.id}`;
    const prio = { a: SHARED_PRIORITY, b: SHARED_PRIORITY };
    // Tables live in the sandbox's own netns and go with it; a reload deletes and adds one here.
    const add = (t: 'a' | 'b') => nftLoad(target, sb.server, equalPriorityTable(name(t), prio[t], MARK[t], sb.clientAddr, port));
    const del = (t: 'a' | 'b') => run(target, nftDeleteTableArgv(sb.server, 'ip', name(t)));
    const round = async (change: string): Promise<EqualPriorityRound> => {
      progress(`${change}; sending ${SYNS} SYNs`);
      const before = { a: (await countsOf(target, sb, name('a'), ['first'])).first!, b: (await countsOf(target, sb, name('b'), ['first'])).first! };
      const { sent } = await sendSyns(target, python, sb, port, SYNS);
      const after = { a: (await countsOf(target, sb, name('a'), ['first'])).first!, b: (await countsOf(target, sb, name('b'), ['first'])).first! };
      const listing = await listingOf(r, sb, progress);
      return { change, priorities: { ...prio }, sent, first: { a: after.a - before.a, b: after.b - before.b }, listing };
    };

    await add('a');
    await add('b');
    const registered = await round(`table a added, then table b, both chains at priority ${SHARED_PRIORITY}`);
    await del('a');
    await add('a');
    const reloaded = await round('table a deleted and added again (a reload of its ruleset)');
    await del('a');
    await del('b');
    prio.a = FIX_PRIORITY_A;
    await add('a');
    await add('b');
    const fixed = await round(`the fix: table a at priority ${FIX_PRIORITY_A} added, then table b at ${SHARED_PRIORITY}`);
    await del('b');
    await add('b');
    const fixedReloaded = await round(`the fix, then table b deleted and added again`);
    return { port, registered, reloaded, fixed, fixedReloaded };
  });
}
