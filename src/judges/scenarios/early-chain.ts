/**
 * early-chain's judges: the counters of a prerouting chain at -300 and at -190 on one live TCP
 * connection, the hook listing, and conntrack's table in; each claim with its evidence out. Pure.
 */
import type { ClaimStatus, Evidence } from '../../model/lab.js';
import type { EarlyChainInputs, EarlyChainPhase, ScenarioClaim } from '../../model/scenario.js';
import { EARLY_CHAIN_WORDS, EARLY_TABLE_PREFIX, earlyChainCommands, type EarlyChainClaim } from '../../model/scenarios/early-chain.js';
import { count, countsEvidence, hookEntries, listingEvidence } from './common.js';

function claim(id: EarlyChainClaim, port: number, status: ClaimStatus, evidence: Evidence[], reason?: string): ScenarioClaim {
  return {
    id: `early-chain/${id}`, phase: id === 'state-after-conntrack' ? 'fix' : 'problem', claim: EARLY_CHAIN_WORDS[id], status, evidence,
    ...(reason ? { reason } : {}), commands: earlyChainCommands(id, port),
  };
}

/** Where the phase's chain sits against conntrack's prerouting callback, from the listing. */
function order(p: EarlyChainPhase): { ok: true; before: boolean; shows: string } | { ok: false; why: string } {
  if ('failure' in p.listing) return { ok: false, why: `the hook listing failed: ${p.listing.failure}` };
  const pre = hookEntries(p.listing.hooks, 'PRE_ROUTING');
  const ct = pre.findIndex((e) => e.owner === 'conntrack' && e.priority === -200);
  // The chain is the nftables entry at the phase's priority (named where the backend names chains).
  const chain = pre.findIndex((e) => e.owner === 'nftables' && e.priority === p.priority && (e.chain === undefined || e.chain.table.startsWith(EARLY_TABLE_PREFIX)));
  if (chain < 0) return { ok: false, why: `the listing of PRE_ROUTING lacks the chain the scenario loaded at ${p.priority}, so it does not show the netns as it was` };
  if (ct < 0) return { ok: false, why: "the listing of PRE_ROUTING has no conntrack callback at -200, though the chain's ct rules need one" };
  return { ok: true, before: chain < ct, shows: `PRE_ROUTING: the chain (${pre[chain]!.priority}) is entry ${chain + 1}, ${pre[ct]!.callback} (${pre[ct]!.priority}) entry ${ct + 1}` };
}

/** The connection as conntrack holds it: the evidence that there was state to see. */
function established(p: EarlyChainPhase, port: number): { lines: string[]; ok: boolean } {
  const mine = p.conntrack.filter((e) => e.proto === 'tcp' && e.original.dport === String(port));
  return { lines: mine.map((e) => `tcp ${e.state ?? '?'} src=${e.original.src} dst=${e.original.dst} sport=${e.original.sport} dport=${e.original.dport}`), ok: mine.some((e) => e.state === 'ESTABLISHED') };
}

export function judgeEarlyChain(i: EarlyChainInputs): ScenarioClaim[] {
  const out: ScenarioClaim[] = [];
  const o = order(i.early);
  const listTitle = (p: EarlyChainPhase) => `hooks of the server netns with the chain at ${p.priority}`;
  if (!o.ok) out.push(claim('runs-before-conntrack', i.port, 'not-observable', [], o.why));
  else out.push(claim('runs-before-conntrack', i.port, o.before ? 'confirmed' : 'refuted', listingEvidence(listTitle(i.early), i.early.listing, o.shows)));

  for (const [id, p] of [['no-state-before-conntrack', i.early], ['state-after-conntrack', i.fixed]] as const) {
    const seen = count(p.counts, 'seen');
    const est = count(p.counts, 'established');
    const inv = count(p.counts, 'invalid');
    const ct = established(p, i.port);
    const ev: Evidence[] = [
      countsEvidence(`the chain's counters at priority ${p.priority} (client → server packets of the connection)`, p.counts, `${seen} packet(s) seen: ${est} matched ct state established, ${inv} ct state invalid`),
      { kind: 'conntrack', title: 'conntrack -L of the server netns, the connection', lines: ct.lines, shows: ct.ok ? 'the connection is ESTABLISHED in conntrack\'s table: there was state to see' : 'no ESTABLISHED entry for the connection' },
    ];
    if (seen === 0) {
      out.push(claim(id, i.port, 'not-observable', ev, `the chain at ${p.priority} counted no packet of the connection, so it shows nothing of what a chain there sees`));
      continue;
    }
    if (!ct.ok) {
      out.push(claim(id, i.port, 'not-observable', ev, 'conntrack does not hold the connection as ESTABLISHED, so whether a chain should see it so is moot'));
      continue;
    }
    const holds = id === 'no-state-before-conntrack' ? est === 0 && inv === seen : est > 0 && inv === 0;
    if (id === 'state-after-conntrack') {
      // "After conntrack" from the listing where there is one; without it, from the priorities alone, and said so.
      const f = order(i.fixed);
      if (f.ok) ev.push(...listingEvidence(listTitle(i.fixed), i.fixed.listing, f.shows));
      if (f.ok && f.before) {
        out.push(claim(id, i.port, 'refuted', ev, `the listing shows the chain at ${p.priority} before conntrack's callback`));
        continue;
      }
      out.push(claim(id, i.port, holds ? 'confirmed' : 'refuted', ev, f.ok ? undefined : `(the order against conntrack is not from a listing here, only from the priorities: ${f.why})`));
      continue;
    }
    out.push(claim(id, i.port, holds ? 'confirmed' : 'refuted', ev));
  }
  return out;
}
