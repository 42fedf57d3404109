/**
 * mixed-backends: an iptables-legacy DROP and an iptables-nft ACCEPT for the same SYNs in the
 * server netns, 5 SYNs; then the legacy INPUT chain flushed, 5 more. The judges are in
 * judges/scenarios/mixed-backends.ts.
 */
import type { MixedBackendsInputs, MixedPhase } from '../../model/scenario.js';
import { legacyDropArgv, nftAcceptArgv } from '../../model/scenarios/mixed-backends.js';
import { parseIptablesSaveCounters } from '../../parsers/counters.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import type { Session } from '../session.js';
import { listingOf, sendSyns } from './common.js';

const SYNS = 5;

export async function mixedBackends(session: Session, port: number, progress: (m: string) => void): Promise<MixedBackendsInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('iptables-legacy');
  await session.tool('iptables-nft');
  return session.run(async (r) => {
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const ns = sb.server;
    // Both rules in the sandbox's own netns: they go with it.
    const save = async (tool: 'iptables-legacy-save' | 'iptables-nft-save') => (await run(target, inNetns(ns, [tool, '-c', '-t', 'filter']))).stdout;
    // The nft ACCEPT's count before the phase: the rule stays across phases, its counter with it.
    let acceptBefore = 0;
    const phase = async (legacy: boolean): Promise<MixedPhase> => {
      const syns = await sendSyns(target, python, sb, port, SYNS);
      const nftSaved = await save('iptables-nft-save');
      const accept = parseIptablesSaveCounters(nftSaved, 'INPUT').filter((c) => /-j ACCEPT\b/.test(c.rule));
      if (accept.length !== 1) throw new Error(`iptables-nft-save -c -t filter: ${accept.length} ACCEPT rule(s) in INPUT, expected the scenario's one`);
      let legacyDrop: number | null = null;
      if (legacy) {
        const drop = parseIptablesSaveCounters(await save('iptables-legacy-save'), 'INPUT').filter((c) => /-j DROP\b/.test(c.rule));
        if (drop.length !== 1) throw new Error(`iptables-legacy-save -c -t filter: ${drop.length} DROP rule(s) in INPUT, expected the scenario's one`);
        legacyDrop = drop[0]!.packets;
      }
      const nftAccept = accept[0]!.packets - acceptBefore;
      acceptBefore = accept[0]!.packets;
      return {
        syns, legacyDrop, nftAccept,
        // The rules, and any warning iptables-nft-save gives about the other backend (as a comment line).
        nftSave: nftSaved.split('\n').filter((l) => /^(\[\d+:\d+\] )?-A /.test(l) || /^# Warning/i.test(l)),
        listing: await listingOf(r, sb, progress),
      };
    };
    progress(`iptables-legacy: DROP tcp dport ${port}; iptables-nft: ACCEPT it; sending ${SYNS} SYNs`);
    await run(target, inNetns(ns, legacyDropArgv(sb.clientAddr, port)));
    await run(target, inNetns(ns, nftAcceptArgv(sb.clientAddr, port)));
    const mixed = await phase(true);
    progress(`iptables-legacy -F INPUT; sending ${SYNS} SYNs`);
    await run(target, inNetns(ns, ['iptables-legacy', '-F', 'INPUT']));
    const flushed = await phase(false);
    return { port, mixed, flushed };
  });
}
