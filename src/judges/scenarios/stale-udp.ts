/**
 * stale-udp's judges: per window of a live UDP flow, the datagrams that reached the old and the
 * new backend's port (input counters) and the flow's conntrack entries; each claim with its
 * evidence. Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { ScenarioClaim, StaleUdpInputs, StaleUdpWindow } from '../../model/scenario.js';
import { STALE_UDP_WORDS, staleUdpCommands, type StaleUdpClaim } from '../../model/scenarios/stale-udp.js';

function claim(id: StaleUdpClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `stale-udp/${id}`, phase: id === 'delete-entry' ? 'fix' : 'problem', claim: STALE_UDP_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: staleUdpCommands(id, port),
  };
}

function windowEvidence(w: StaleUdpWindow, i: StaleUdpInputs): Evidence[] {
  const mine = w.conntrack.filter((e) => e.proto === 'udp' && e.original.dport === String(i.port));
  return [
    { kind: 'counter', title: w.what, lines: [`old backend (port ${i.oldPort})  ${w.old} datagram(s)`, `new backend (port ${i.newPort})  ${w.new} datagram(s)`], shows: `${w.old} to the old backend, ${w.new} to the new` },
    {
      kind: 'conntrack', title: `conntrack -L -p udp of the server netns, after: ${w.what}`,
      lines: mine.map((e) => `udp src=${e.original.src} sport=${e.original.sport} dport=${e.original.dport} → reply sport=${e.reply.sport}`),
      shows: mine.length ? `translated to port ${[...new Set(mine.map((e) => e.reply.sport))].join(' and ')}` : 'no entry for the flow',
    },
  ];
}

export function judgeStaleUdp(i: StaleUdpInputs): ScenarioClaim[] {
  const out: ScenarioClaim[] = [];
  // The flow must reach the old backend before the change, or nothing after it says anything.
  const flowing = i.before.old > 0 && i.before.new === 0;
  // A window in which the flow reached neither backend shows nothing of where it goes.
  const silent = (w: StaleUdpWindow) => w.old + w.new === 0;
  const notFlowing = `before the change the flow's datagrams reached the old backend ${i.before.old} time(s) and the new one ${i.before.new}: the run does not show a flow on the old backend to begin with`;
  const ev1 = [...windowEvidence(i.before, i), ...windowEvidence(i.stale, i)];
  if (!flowing) out.push(claim('sticks-to-old-backend', i.port, 'not-observable', ev1, notFlowing));
  else if (silent(i.stale)) out.push(claim('sticks-to-old-backend', i.port, 'not-observable', ev1, 'after the change no datagram of the flow reached either backend in the window'));
  else out.push(claim('sticks-to-old-backend', i.port, i.stale.old > 0 && i.stale.new === 0 ? 'confirmed' : 'refuted', ev1));
  out.push(claim('new-flows-use-new-rule', i.port, i.newFlow.new === i.newFlow.sent ? 'confirmed' : 'refuted', windowEvidence(i.newFlow, i),
    i.newFlow.new === i.newFlow.sent ? undefined : `${i.newFlow.new} of the new flow's ${i.newFlow.sent} datagrams reached the new backend`));
  const ev3 = windowEvidence(i.deleted, i);
  ev3.unshift({ kind: 'counter', title: 'conntrack -D -p udp (its own words)', lines: i.deleted.deleteOutput.trim().split('\n'), shows: 'the entries deleted' });
  if (!flowing) out.push(claim('delete-entry', i.port, 'not-observable', ev3, notFlowing));
  else if (silent(i.deleted)) out.push(claim('delete-entry', i.port, 'not-observable', ev3, 'after the delete no datagram of the flow reached either backend in the window'));
  else out.push(claim('delete-entry', i.port, i.deleted.new > 0 && i.deleted.old === 0 ? 'confirmed' : 'refuted', ev3));
  return out;
}
