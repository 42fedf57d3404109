/**
 * udp-race's judges: per phase (one backend, two backends at random, a socket per query), what the
 * backends' sockets received, `conntrack -S` and `-C` of the server netns before and after, and how
 * often the NAT rule was evaluated (once per new entry). Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { ScenarioClaim, UdpRaceInputs, UdpRacePhase } from '../../model/scenario.js';
import { UDP_RACE_CLAIMS, UDP_RACE_MIN_CLASHES, UDP_RACE_WORDS, udpRaceCommands, type UdpRaceClaim } from '../../model/scenarios/udp-race.js';
import { count, statGrew, tableStateLines } from './common.js';

function claim(id: UdpRaceClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `udp-race/${id}`, phase: id.startsWith('fix-') ? 'fix' : 'problem', claim: UDP_RACE_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: udpRaceCommands(id, port),
  };
}

const delivered = (p: UdpRacePhase) => Object.values(p.received).reduce((a, b) => a + b, 0);
const clashes = (p: UdpRacePhase) => statGrew(p.before, p.after, 'clash_resolve') + statGrew(p.before, p.after, 'insert_failed');

function evidence(p: UdpRacePhase, cpus: readonly number[]): Evidence[] {
  return [
    {
      kind: 'counter', title: `race.py and the backends' sockets: ${p.what}`,
      lines: [
        `race.py: ${p.flows} socket(s), ${p.sent} datagrams, two at a time from CPUs ${cpus.join(' and ')}`,
        ...Object.entries(p.received).map(([port, n]) => `udpsink.py port ${port}: ${n} received`),
        `NAT rule evaluated ${count(p.counts, 'dnat')} time(s) (once per new entry)`,
      ],
      shows: `${delivered(p)} of ${p.sent} delivered; NAT looked up ${count(p.counts, 'dnat')} times for ${p.flows} flows`,
    },
    { kind: 'counter', title: `conntrack -S and -C of the server netns before: ${p.what}`, lines: tableStateLines(p.before), shows: `${p.before.count} entries` },
    {
      kind: 'counter', title: `conntrack -S and -C after: ${p.what}`, lines: tableStateLines(p.after),
      shows: `clash_resolve +${statGrew(p.before, p.after, 'clash_resolve')}, insert_failed +${statGrew(p.before, p.after, 'insert_failed')}, drop +${statGrew(p.before, p.after, 'drop')}; ${p.after.count - p.before.count} entries more for ${p.flows} flows (a NAT clash entry counts for its 1 s)`,
    },
  ];
}

export function judgeUdpRace(i: UdpRaceInputs): ScenarioClaim[] {
  if ('notRun' in i) return UDP_RACE_CLAIMS.map((id) => claim(id, i.port, 'not-observable', [], i.notRun));
  const out: ScenarioClaim[] = [];
  const noRace = (p: UdpRacePhase) => `no two datagrams of a flow met in conntrack in ${p.flows} flows (clash_resolve +0, insert_failed +0): the race did not happen here, so nothing shows what the kernel does with it`;
  const a = i.oneBackend;
  const evA = evidence(a, i.cpus);
  if (clashes(a) === 0) {
    out.push(claim('insert-race', i.port, 'not-observable', evA, noRace(a)));
    out.push(claim('clash-resolved', i.port, 'not-observable', evA, noRace(a)));
  } else {
    // Each datagram that found no confirmed entry got one of its own, and NAT for it: more NAT lookups than flows.
    const nat = count(a.counts, 'dnat');
    out.push(claim('insert-race', i.port, nat > a.flows ? 'confirmed' : 'refuted', evA,
      nat > a.flows ? undefined : `${clashes(a)} clash(es) counted, but the NAT rule ran ${nat} times for ${a.flows} flows: no flow had two entries`));
    const lost = statGrew(a.before, a.after, 'insert_failed');
    const ok = delivered(a) === a.sent && lost === 0;
    out.push(claim('clash-resolved', i.port, ok ? 'confirmed' : 'refuted', evA, ok ? undefined : `${delivered(a)} of ${a.sent} delivered, insert_failed +${lost}`));
  }
  const b = i.twoBackends;
  const evB = evidence(b, i.cpus);
  if (clashes(b) === 0) out.push(claim('different-translations', i.port, 'not-observable', evB, noRace(b)));
  else if (clashes(b) < UDP_RACE_MIN_CLASHES) {
    out.push(claim('different-translations', i.port, 'not-observable', evB, `${clashes(b)} clash(es) only: the chance that all of them translated alike (2^-${clashes(b)}) is too high to say any two differed`));
  } else {
    // The NAT clash entries are not a condition: they live 1 s, and whether -C still counts them
    // when it is read depends on when the GC reaps them. They are evidence where seen.
    const lost = statGrew(b.before, b.after, 'insert_failed');
    const ok = delivered(b) === b.sent && lost === 0;
    out.push(claim('different-translations', i.port, ok ? 'confirmed' : 'refuted', evB, ok ? undefined
      : `${delivered(b)} of ${b.sent} delivered, insert_failed +${lost}`));
  }
  const c = i.socketPerQuery;
  const evC = evidence(c, i.cpus);
  // No clash with a socket per query says something only where one socket a flow did clash.
  if (clashes(a) === 0 && clashes(b) === 0) out.push(claim('fix-socket-per-query', i.port, 'not-observable', evC, 'the race did not happen with one socket a flow either, so its absence here shows nothing'));
  else {
    const ok = clashes(c) === 0 && delivered(c) === c.sent;
    out.push(claim('fix-socket-per-query', i.port, ok ? 'confirmed' : 'refuted', evC, ok ? undefined : `${clashes(c)} clash(es), ${delivered(c)} of ${c.sent} delivered`));
  }
  return out;
}
