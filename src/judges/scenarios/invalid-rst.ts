/**
 * invalid-rst's judges: per phase (no fix, ct state invalid drop, be_liberal), the counters of the
 * NAT, post-conntrack and input chains and what inject.py saw of its connection; each claim with its
 * evidence. Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { InvalidRstInputs, InvalidRstPhase, ScenarioClaim } from '../../model/scenario.js';
import { INVALID_RST_WORDS, invalidRstCommands, SEGMENT_IP_LENGTH, type InvalidRstClaim } from '../../model/scenarios/invalid-rst.js';
import { count, countsEvidence } from './common.js';

function claim(id: InvalidRstClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `invalid-rst/${id}`, phase: id.startsWith('fix-') ? 'fix' : 'problem', claim: INVALID_RST_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: invalidRstCommands(id, port),
  };
}

const TITLE: Record<InvalidRstPhase['fix'], string> = {
  none: 'no fix',
  'drop-invalid': 'with ct state invalid drop',
  'be-liberal': 'with nf_conntrack_tcp_be_liberal=1',
};

function evidence(p: InvalidRstPhase, i: InvalidRstInputs): Evidence[] {
  const x = p.inject;
  return [
    countsEvidence(`counters, ${TITLE[p.fix]}`, p.counts, `DNAT took ${count(p.counts, 'dnat')} connection(s); ${count(p.counts, 'invalid')} INVALID; ${count(p.counts, 'to-port')} packet(s) reached port ${i.port} untranslated, the segment ${count(p.counts, 'segment-translated')} time(s) port ${i.newPort}; ${count(p.counts, 'rst')} RST(s) from port ${i.port}`),
    {
      kind: 'counter', title: `inject.py in the client netns, ${TITLE[p.fix]}`,
      lines: [`connection from port ${x.sport}, next seq ${x.snd_nxt}; segment sent at seq ${x.injected_seq} (+2^30)`, `reset: ${x.reset}${x.error ? ` (${x.error})` : ''}`],
      shows: x.reset ? 'the connection was reset' : 'the connection lived on',
    },
  ];
}

/** tcp_in_window's words for a sequence number past the window: 5.10 "SEQ is over the upper bound", 6.1+ "SEQ is over upper bound N". */
const OVER_THE_WINDOW = /SEQ is over (the )?upper bound/;

/** The injected segment's log lines: its IP length is no other packet's (inject.py), to the original port. */
function segmentLines(p: InvalidRstPhase, i: InvalidRstInputs) {
  return 'lines' in p.invalidLog ? p.invalidLog.lines.filter((l) => l.proto === 6 && l.ip_len === SEGMENT_IP_LENGTH && l.dport === i.port) : [];
}

function logEvidence(p: InvalidRstPhase, i: InvalidRstInputs): Evidence[] {
  if (!('lines' in p.invalidLog)) return [];
  const seg = segmentLines(p, i);
  return [{
    kind: 'counter', title: `conntrack's INVALID log in the server netns (nf_conntrack_log_invalid=6 through nfnetlink_log), ${TITLE[p.fix]}`,
    lines: p.invalidLog.lines.length ? p.invalidLog.lines.map((l) => `${l.prefix?.trim() ?? '(no prefix)'}   [proto ${l.proto} ip length ${l.ip_len} ${l.sport} → ${l.dport}]`) : ['(nothing logged)'],
    shows: seg.length ? `the segment logged: ${seg.map((l) => JSON.stringify(l.prefix?.trim() ?? null)).join(', ')}` : 'the segment not logged',
  }];
}

function whyInvalid(p: InvalidRstPhase, i: InvalidRstInputs, invalid: number): ScenarioClaim {
  const ev = [...evidence(p, i), ...logEvidence(p, i)];
  if (!('lines' in p.invalidLog)) return claim('why-invalid', i.port, 'not-observable', ev, p.invalidLog.failure);
  if (invalid !== 1) return claim('why-invalid', i.port, 'not-observable', ev, 'the segment was not shown INVALID here, so there is no reason to read');
  const seg = segmentLines(p, i);
  // A log line lost on its way (a full socket buffer) is not a reason of another kind.
  if (seg.length === 0) return claim('why-invalid', i.port, 'not-observable', ev, 'conntrack counted the segment INVALID, and no log line for it was read');
  // One segment, one reason: lines for it that say another refute it.
  const over = seg.every((l) => OVER_THE_WINDOW.test(l.prefix ?? ''));
  return claim('why-invalid', i.port, over ? 'confirmed' : 'refuted', ev, over ? undefined : `conntrack's reason: ${seg.map((l) => JSON.stringify((l.prefix ?? '').trim())).join(', ')}`);
}

export function judgeInvalidRst(i: InvalidRstInputs): ScenarioClaim[] {
  const out: ScenarioClaim[] = [];
  // Every phase rests on one connection through the DNAT rule (its first packet counted there).
  const through = (p: InvalidRstPhase) => count(p.counts, 'dnat') === 1;
  const notThrough = (p: InvalidRstPhase) => `DNAT counted ${count(p.counts, 'dnat')} connection(s) ${TITLE[p.fix]}, not the one the phase made: it shows nothing of a DNATed connection`;
  const p = i.problem;
  const evP = evidence(p, i);
  if (!through(p)) {
    out.push(claim('marked-invalid', i.port, 'not-observable', evP, notThrough(p)));
    out.push(claim('why-invalid', i.port, 'not-observable', [...evP, ...logEvidence(p, i)], notThrough(p)));
    out.push(claim('untranslated-reset', i.port, 'not-observable', evP, notThrough(p)));
  } else {
    const invalid = count(p.counts, 'invalid');
    // More than one INVALID packet does not say which was the segment: not observable, not refuted.
    if (invalid > 1) out.push(claim('marked-invalid', i.port, 'not-observable', evP, `${invalid} INVALID packets counted: which of them was the segment is not shown`));
    else out.push(claim('marked-invalid', i.port, invalid === 1 ? 'confirmed' : 'refuted', evP, invalid === 1 ? undefined : 'no INVALID packet counted: the segment kept its entry'));
    out.push(whyInvalid(p, i, invalid));
    const untranslated = count(p.counts, 'to-port');
    const rst = count(p.counts, 'rst');
    if (invalid !== 1) out.push(claim('untranslated-reset', i.port, 'not-observable', evP, 'the segment was not shown INVALID here, so what an INVALID segment does is not shown'));
    else out.push(claim('untranslated-reset', i.port, untranslated === 1 && count(p.counts, 'segment-translated') === 0 && rst >= 1 && p.inject.reset ? 'confirmed' : 'refuted', evP));
  }
  for (const [id, f] of [['fix-drop-invalid', i.dropInvalid], ['fix-be-liberal', i.beLiberal]] as const) {
    const ev = [...evidence(f, i), ...logEvidence(f, i)];
    if (!through(f)) {
      out.push(claim(id, i.port, 'not-observable', ev, notThrough(f)));
      continue;
    }
    const invalid = count(f.counts, 'invalid');
    const untranslated = count(f.counts, 'to-port');
    const translated = count(f.counts, 'segment-translated');
    // drop: the segment is INVALID and dropped there; be_liberal: it is never INVALID, DNAT applies and it reaches the backend's port.
    const holds = (id === 'fix-drop-invalid' ? invalid === 1 && translated === 0 : invalid === 0 && translated === 1) && untranslated === 0 && count(f.counts, 'rst') === 0 && !f.inject.reset;
    out.push(claim(id, i.port, holds ? 'confirmed' : 'refuted', ev));
  }
  return out;
}
