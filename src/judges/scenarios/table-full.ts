/**
 * table-full's judges: per phase (a table full of established connections, the max raised, a
 * table full of unreplied UDP flows), `conntrack -S` and `-C` of the server netns before and after
 * the SYNs, the SYN counters before and after conntrack, and what syn.py got back. Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { ScenarioClaim, TableFullInputs, TableFullPhase } from '../../model/scenario.js';
import { TABLE_FULL_CLAIMS, TABLE_FULL_WORDS, tableFullCommands, type TableFullClaim } from '../../model/scenarios/table-full.js';
import { count, countsEvidence, statGrew, tableStateLines } from './common.js';

function claim(id: TableFullClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `table-full/${id}`, phase: id.startsWith('fix-') ? 'fix' : 'problem', claim: TABLE_FULL_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: tableFullCommands(id, port),
  };
}

const grew = (p: TableFullPhase, name: string) => statGrew(p.before, p.after, name);

function evidence(p: TableFullPhase, port: number): Evidence[] {
  const mine = p.conntrack.filter((e) => e.proto === 'tcp' && e.original.dport === String(port));
  return [
    { kind: 'counter', title: `conntrack -S and -C of the server netns before the SYNs: ${p.what}`, lines: tableStateLines(p.before, p.max), shows: `${p.before.count} entries of ${p.max}` },
    countsEvidence(`SYN counters: before conntrack (priority -300) and after it (input, ct state new): ${p.what}`, p.counts, `${count(p.counts, 'syn-seen')} SYN(s) reached the hook, ${count(p.counts, 'syn-past')} got past conntrack`),
    { kind: 'counter', title: `syn.py in the client netns: ${p.what}`, lines: [`sent ${p.syns.sent}, connected ${p.syns.connected}, refused ${p.syns.refused}`], shows: `${p.syns.connected} of ${p.syns.sent} connected` },
    { kind: 'counter', title: `conntrack -S and -C after the SYNs: ${p.what}`, lines: tableStateLines(p.after, p.max), shows: `drop +${grew(p, 'drop')}, early_drop +${grew(p, 'early_drop')}; ${p.after.count} entries` },
    {
      kind: 'conntrack', title: `conntrack -L -p tcp --orig-port-dst ${port} of the server netns after the SYNs (${mine.length} entr${mine.length === 1 ? 'y' : 'ies'}${mine.length > 12 ? ', the first 12' : ''})`,
      lines: mine.slice(0, 12).map((e) => `${e.proto} ${e.state ?? ''} src=${e.original.src} sport=${e.original.sport} dport=${e.original.dport} ${e.flags.map((f) => `[${f}]`).join(' ')}`.replace(/\s+/g, ' ')),
      shows: `${mine.filter((e) => e.flags.includes('ASSURED')).length} of them ASSURED`,
    },
  ];
}

/** Why a phase shows nothing of a full table: it was not full when the SYNs came, or they did not all reach the hook. */
function notShown(p: TableFullPhase, mustBeFull: boolean): string | null {
  if (mustBeFull && p.before.count < p.max) return `the table held ${p.before.count} entries of nf_conntrack_max ${p.max} when the SYNs came: not full, so it shows nothing of a full table`;
  const seen = count(p.counts, 'syn-seen');
  if (seen !== p.syns.sent) return `${seen} of the ${p.syns.sent} SYNs reached the server's prerouting hook: what conntrack did with the others is not shown`;
  return null;
}

export function judgeTableFull(i: TableFullInputs): ScenarioClaim[] {
  if ('notRun' in i) return TABLE_FULL_CLAIMS.map((id) => claim(id, i.port, 'not-observable', [], i.notRun));
  const out: ScenarioClaim[] = [];
  const a = i.assured;
  const evA = evidence(a, i.port);
  const whyA = notShown(a, true);
  if (whyA) out.push(claim('full-drops-new', i.port, 'not-observable', evA, whyA));
  else {
    const dropped = grew(a, 'drop');
    const holds = count(a.counts, 'syn-past') === 0 && a.syns.connected === 0 && dropped >= a.syns.sent;
    out.push(claim('full-drops-new', i.port, holds ? 'confirmed' : 'refuted', evA, holds ? undefined
      : `${count(a.counts, 'syn-past')} SYN(s) got past conntrack, ${a.syns.connected} connected, conntrack -S drop +${dropped} for ${a.syns.sent} sent`));
  }
  // The held connections' entries: established both ways (ASSURED), still there after the drops.
  const held = a.conntrack.filter((e) => e.proto === 'tcp' && e.original.dport === String(i.port) && e.state === 'ESTABLISHED' && e.flags.includes('ASSURED')).length;
  if (whyA) out.push(claim('assured-kept', i.port, 'not-observable', evA, whyA));
  else {
    const evicted = grew(a, 'early_drop');
    const holds = evicted === 0 && held === i.held && a.after.count >= a.max;
    out.push(claim('assured-kept', i.port, holds ? 'confirmed' : 'refuted', evA, holds ? undefined
      : `early_drop +${evicted}; ${held} of the ${i.held} held connections' entries ESTABLISHED and ASSURED after the SYNs; ${a.after.count} entries of ${a.max}`));
  }
  const u = i.unassured;
  const evU = evidence(u, i.port);
  const whyU = notShown(u, true);
  if (whyU) out.push(claim('unassured-evicted', i.port, 'not-observable', evU, whyU));
  else {
    const evicted = grew(u, 'early_drop');
    const through = u.syns.connected === u.syns.sent && count(u.counts, 'syn-past') === u.syns.sent;
    // Room made without early_drop (the GC worker evicting, or the entries' 30 s running out on a
    // slow guest) shows the SYNs getting through, not an eviction for them.
    if (through && evicted === 0) out.push(claim('unassured-evicted', i.port, 'not-observable', evU, `the SYNs got through with early_drop +0: room was made otherwise (the GC worker, or the entries expiring), which the run does not tell apart`));
    else out.push(claim('unassured-evicted', i.port, through ? 'confirmed' : 'refuted', evU, through ? undefined
      : `${u.syns.connected} of ${u.syns.sent} connected; early_drop +${evicted}; ${u.before.count} entries before, ${u.after.count} after`));
  }
  const r = i.raised;
  const evR = evidence(r, i.port);
  const whyR = notShown(r, false);
  if (whyR) out.push(claim('fix-raise-max', i.port, 'not-observable', evR, whyR));
  else {
    const dropped = grew(r, 'drop');
    const holds = r.syns.connected === r.syns.sent && count(r.counts, 'syn-past') === r.syns.sent && dropped === 0;
    out.push(claim('fix-raise-max', i.port, holds ? 'confirmed' : 'refuted', evR, holds ? undefined
      : `${r.syns.connected} of ${r.syns.sent} connected, ${count(r.counts, 'syn-past')} got past conntrack, conntrack -S drop +${dropped}`));
  }
  return out;
}
