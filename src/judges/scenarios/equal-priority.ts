/**
 * equal-priority's judges: per round of SYNs, which of chains a and b saw each SYN first (its
 * "first" counter: the mark still 0), and the hook listing; each claim with its evidence out. Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { EqualPriorityInputs, EqualPriorityRound, ScenarioClaim } from '../../model/scenario.js';
import { EQUAL_PRIORITY_WORDS, equalPriorityCommands, type EqualPriorityClaim } from '../../model/scenarios/equal-priority.js';
import { hookEntries, listingEvidence } from './common.js';

function claim(id: EqualPriorityClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `equal-priority/${id}`, phase: id === 'distinct-priorities' ? 'fix' : 'problem', claim: EQUAL_PRIORITY_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: equalPriorityCommands(id, port),
  };
}

/** Which chain ran first for every SYN of the round, or why the round does not say. */
function firstOf(r: EqualPriorityRound): { first: 'a' | 'b' } | { split: string } | { missing: string } {
  const { a, b } = r.first;
  // Every SYN crosses both chains and exactly one of them sees it unmarked.
  if (a + b !== r.sent) return { missing: `the two chains saw ${a + b} SYN(s) first between them, of ${r.sent} sent, so the round does not show their order` };
  if (a === r.sent) return { first: 'a' };
  if (b === r.sent) return { first: 'b' };
  return { split: `a ran first for ${a} SYN(s) and b for ${b}: no one order` };
}

function roundEvidence(r: EqualPriorityRound): Evidence[] {
  const ev: Evidence[] = [{
    kind: 'counter', title: `${r.change}; ${r.sent} SYN(s) sent`,
    lines: [`a (priority ${r.priorities.a})  saw first: ${r.first.a}`, `b (priority ${r.priorities.b})  saw first: ${r.first.b}`],
    shows: 'the chain that saw a SYN with mark 0 ran before the other for it',
  }];
  if ('hooks' in r.listing) {
    const pre = hookEntries(r.listing.hooks, 'PRE_ROUTING');
    const names = pre.filter((e) => e.chain).map((e) => `${e.chain!.table} (${e.priority})`);
    ev.push(...listingEvidence(`hooks of the server netns after: ${r.change}`, r.listing, names.length ? `PRE_ROUTING runs ${names.join(', then ')}` : 'the listing does not name chains here: the counters alone say which ran first'));
  }
  return ev;
}

export function judgeEqualPriority(i: EqualPriorityInputs): ScenarioClaim[] {
  const judge = (id: EqualPriorityClaim, rounds: [EqualPriorityRound, 'a' | 'b'][]): ScenarioClaim => {
    const ev = rounds.flatMap(([r]) => roundEvidence(r));
    for (const [r, want] of rounds) {
      const f = firstOf(r);
      if ('missing' in f) return claim(id, i.port, 'not-observable', ev, `${r.change}: ${f.missing}`);
      if ('split' in f) return claim(id, i.port, 'refuted', ev, `${r.change}: ${f.split}`);
      if (f.first !== want) return claim(id, i.port, 'refuted', ev, `${r.change}: ${f.first} ran first, not ${want}`);
    }
    return claim(id, i.port, 'confirmed', ev);
  };
  // The reload reverses the order the first round showed: both rounds must each give one order, and differ.
  const reverses = (): ScenarioClaim => {
    const ev = [...roundEvidence(i.registered), ...roundEvidence(i.reloaded)];
    const [a, b] = [firstOf(i.registered), firstOf(i.reloaded)];
    for (const [r, f] of [[i.registered, a], [i.reloaded, b]] as const) {
      if ('missing' in f) return claim('reload-reverses', i.port, 'not-observable', ev, `${r.change}: ${f.missing}`);
      if ('split' in f) return claim('reload-reverses', i.port, r === i.registered ? 'not-observable' : 'refuted', ev, `${r.change}: ${f.split}`);
    }
    const [before, after] = [(a as { first: string }).first, (b as { first: string }).first];
    return before !== after && after === 'a'
      ? claim('reload-reverses', i.port, 'confirmed', ev)
      : claim('reload-reverses', i.port, 'refuted', ev, `${before} ran first before the reload of a, ${after} after it`);
  };
  return [
    // a added, then b, at one priority: b (the newer) runs first.
    judge('reverse-registration', [[i.registered, 'b']]),
    // a deleted and added again: a is the newer now, and the order is the other way round.
    reverses(),
    // a at a lower priority, added before b, runs first; b reloaded changes nothing.
    judge('distinct-priorities', [[i.fixed, 'a'], [i.fixedReloaded, 'a']]),
  ];
}
