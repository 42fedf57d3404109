/**
 * mixed-backends' judges: the hook listing (both backends on LOCAL_IN), the two rules' counters,
 * what syn.py got back, and iptables-nft-save as an operator reads it; each claim with its
 * evidence. Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { MixedBackendsInputs, MixedPhase, ScenarioClaim } from '../../model/scenario.js';
import { MIXED_WORDS, mixedCommands, type MixedClaim } from '../../model/scenarios/mixed-backends.js';
import { hookEntries, listingEvidence } from './common.js';

function claim(id: MixedClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `mixed-backends/${id}`, phase: id === 'one-backend' ? 'fix' : 'problem', claim: MIXED_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: mixedCommands(id, port),
  };
}

function outcome(p: MixedPhase, title: string): Evidence {
  const s = p.syns;
  return {
    kind: 'counter', title,
    lines: [
      `legacy DROP rule (iptables-legacy-save -c)  ${p.legacyDrop ?? '(no legacy rule)'}`,
      `nft ACCEPT rule (iptables-nft-save -c)      ${p.nftAccept} (this phase)`,
      `syn.py: sent ${s.sent}, connected ${s.connected}, refused ${s.refused}, no answer ${s.sent - s.connected - s.refused}`,
    ],
    shows: `${s.sent - s.connected - s.refused} of ${s.sent} SYN(s) got no answer`,
  };
}

export function judgeMixedBackends(i: MixedBackendsInputs): ScenarioClaim[] {
  const out: ScenarioClaim[] = [];
  const m = i.mixed;
  if ('failure' in m.listing) out.push(claim('both-on-the-hook', i.port, 'not-observable', [], `the hook listing failed: ${m.listing.failure}`));
  else {
    const inp = hookEntries(m.listing.hooks, 'LOCAL_IN');
    const legacy = inp.findIndex((e) => e.owner === 'iptables' && e.priority === 0);
    const nft = inp.findIndex((e) => e.owner === 'nftables' && e.priority === 0);
    const shows = legacy >= 0 && nft >= 0
      ? `LOCAL_IN: ${inp[legacy]!.callback}${inp[legacy]!.xtTable ? ` (table ${inp[legacy]!.xtTable})` : ''} is entry ${legacy + 1}, ${inp[nft]!.callback}${inp[nft]!.chain ? ` (${inp[nft]!.chain!.table} ${inp[nft]!.chain!.chain})` : ''} entry ${nft + 1}, both at 0: ${legacy < nft ? 'legacy' : 'nft'} runs first`
      : `LOCAL_IN has ${legacy >= 0 ? 'the legacy table' : 'no legacy table'} and ${nft >= 0 ? 'an nftables chain' : 'no nftables chain'} at priority 0`;
    out.push(claim('both-on-the-hook', i.port, legacy >= 0 && nft >= 0 ? 'confirmed' : 'refuted', listingEvidence('hooks of the server netns with both backends\' rules', m.listing, shows)));
  }
  const noAnswer = m.syns.sent - m.syns.connected - m.syns.refused;
  const hidden = !m.nftSave.some((l) => /-j DROP\b/.test(l));
  const warned = m.nftSave.some((l) => /^# Warning/i.test(l));
  const evM: Evidence[] = [
    outcome(m, `both rules; ${m.syns.sent} SYN(s) sent`),
    { kind: 'counter', title: 'iptables-nft-save -t filter (what an operator on iptables-nft reads)', lines: m.nftSave, shows: `${hidden ? 'no DROP rule' : 'a DROP rule is listed'}${warned ? '; a warning that legacy tables exist' : ', and no word of the legacy tables'}` },
  ];
  const heldBoth = m.legacyDrop === m.syns.sent && noAnswer === m.syns.sent && hidden;
  out.push(claim('hidden-drop', i.port, heldBoth ? 'confirmed' : 'refuted', evM));
  const f = i.flushed;
  out.push(claim('one-backend', i.port, f.syns.refused === f.syns.sent ? 'confirmed' : 'refuted', [outcome(f, `after iptables-legacy -F INPUT; ${f.syns.sent} SYN(s) sent`)]));
  return out;
}
