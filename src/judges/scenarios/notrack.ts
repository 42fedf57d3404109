/**
 * notrack's judges: the counters of the NAT and input chains, the notrack rule's own, and
 * conntrack's table, for 5 SYNs with the notrack chain and 5 without; each claim with its evidence. Pure.
 */
import type { CtEntry } from '../../model/conntrack.js';
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { NotrackInputs, NotrackPhase, ScenarioClaim } from '../../model/scenario.js';
import { NOTRACK_WORDS, notrackCommands, type NotrackClaim } from '../../model/scenarios/notrack.js';
import { count, countsEvidence } from './common.js';

function claim(id: NotrackClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `notrack/${id}`, phase: id === 'tracked-again' ? 'fix' : 'problem', claim: NOTRACK_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: notrackCommands(id, port),
  };
}

/** The phase's SYNs as conntrack holds them: original destination the port. */
const entries = (p: NotrackPhase, port: number): CtEntry[] => p.conntrack.filter((e) => e.proto === 'tcp' && e.original.dport === String(port));

function ctEvidence(p: NotrackPhase, port: number, newPort: number): Evidence {
  const mine = entries(p, port);
  const nat = mine.filter((e) => e.reply.sport === String(newPort)).length;
  return {
    kind: 'conntrack', title: `conntrack -L of the server netns, ${p.notrack ? `with the notrack rule at priority ${p.notrackPriority}` : 'without the notrack rule'}`,
    lines: mine.map((e) => `tcp ${e.state ?? '?'} src=${e.original.src} dport=${e.original.dport} → reply sport=${e.reply.sport}`),
    shows: `${mine.length} entr${mine.length === 1 ? 'y' : 'ies'} for the ${p.sent} SYN(s), ${nat} translated to port ${newPort}`,
  };
}

/** What the client got back: only the new port has a listener. */
function synEvidence(p: NotrackPhase, i: NotrackInputs): Evidence {
  return {
    kind: 'counter', title: `syn.py in the client netns (a listener on port ${i.newPort} only)`,
    lines: [`sent ${p.syns.sent}, connected ${p.syns.connected}, refused ${p.syns.refused}`],
    shows: `${p.syns.connected} connected (translated to ${i.newPort}), ${p.syns.refused} refused by port ${i.port}`,
  };
}

export function judgeNotrack(i: NotrackInputs): ScenarioClaim[] {
  const p = i.problem;
  const f = i.fixed;
  const evP = (shows: string) => [countsEvidence(`counters with the notrack rule; ${p.sent} SYN(s) sent`, p.counts, shows), ctEvidence(p, i.port, i.newPort)];
  const notracked = count(p.counts, 'notrack');
  const untracked = count(p.counts, 'untracked');
  const out: ScenarioClaim[] = [];
  if (notracked !== p.sent) {
    out.push(claim('untracked', i.port, 'not-observable', evP(`the notrack rule counted ${notracked}`), `the notrack rule matched ${notracked} of the ${p.sent} SYNs sent, so the run does not show what it does to them`));
  } else {
    const holds = untracked === p.sent && entries(p, i.port).length === 0;
    out.push(claim('untracked', i.port, holds ? 'confirmed' : 'refuted', evP(`${untracked} of ${p.sent} SYN(s) matched ct state untracked`)));
  }
  const dnat = count(p.counts, 'dnat');
  const toPort = count(p.counts, 'to-port');
  const toNew = count(p.counts, 'to-new-port');
  const evNat = [...evP(`the DNAT rule counted ${dnat}; ${toPort} SYN(s) reached port ${i.port}, ${toNew} port ${i.newPort}`), synEvidence(p, i)];
  // The claim is about untracked packets: it rests on every SYN having been made untracked.
  if (notracked !== p.sent || untracked !== p.sent) {
    out.push(claim('no-nat', i.port, 'not-observable', evNat, `the notrack rule matched ${notracked} and ct state untracked ${untracked} of the ${p.sent} SYNs sent: the run does not show untracked SYNs meeting the DNAT rule`));
  } else {
    out.push(claim('no-nat', i.port, dnat === 0 && toPort === p.sent && toNew === 0 && p.syns.refused === p.sent ? 'confirmed' : 'refuted', evNat));
  }
  // NFS004: the rule after conntrack matches every SYN, and none of them is untracked.
  const l = i.late;
  const lNot = count(l.counts, 'notrack');
  const lNat = entries(l, i.port).filter((e) => e.reply.sport === String(i.newPort)).length;
  const evL = [
    countsEvidence(`counters with the notrack rule at priority ${l.notrackPriority} (after conntrack); ${l.sent} SYN(s) sent`, l.counts, `the notrack rule counted ${lNot}; ${count(l.counts, 'untracked')} untracked; the DNAT rule counted ${count(l.counts, 'dnat')}; ${count(l.counts, 'to-new-port')} reached port ${i.newPort}`),
    ctEvidence(l, i.port, i.newPort),
    synEvidence(l, i),
  ];
  if (lNot !== l.sent) out.push(claim('notrack-after-conntrack', i.port, 'not-observable', evL, `the notrack rule matched ${lNot} of the ${l.sent} SYNs sent, so the run does not show what it does to them`));
  else {
    const holds = count(l.counts, 'untracked') === 0 && count(l.counts, 'dnat') === l.sent && count(l.counts, 'to-new-port') === l.sent && lNat === l.sent && l.syns.connected === l.sent;
    out.push(claim('notrack-after-conntrack', i.port, holds ? 'confirmed' : 'refuted', evL));
  }
  const fd = count(f.counts, 'dnat');
  const fNew = count(f.counts, 'to-new-port');
  const fUn = count(f.counts, 'untracked');
  const nat = entries(f, i.port).filter((e) => e.reply.sport === String(i.newPort)).length;
  out.push(claim('tracked-again', i.port, fd === f.sent && fNew === f.sent && fUn === 0 && nat === f.sent && f.syns.connected === f.sent ? 'confirmed' : 'refuted', [
    countsEvidence(`counters without the notrack rule; ${f.sent} SYN(s) sent`, f.counts, `the DNAT rule counted ${fd}; ${fNew} SYN(s) reached port ${i.newPort}; ${fUn} untracked`),
    ctEvidence(f, i.port, i.newPort),
    synEvidence(f, i),
  ]));
  return out;
}
