/**
 * The lab's judges: the observations of its steps in, each claim with its status and its evidence
 * as data out (render/lab.ts makes the text). Pure. A claim that rests on an observation that was
 * not made is not-observable, with the reason the run recorded.
 */
import { findPath } from '../model/call-tree.js';
import { ALLOC_PATH, type GraphReport } from '../model/graph.js';
import { NF_PRI_LAST } from '../model/hooks.js';
import { CLAIM_WORDS, explainCommands } from '../model/lab-claims.js';
import { LAB_SCHEMA_VERSION, type Claim, type Evidence, type LabInputs, type LabReport } from '../model/lab.js';
import type { LifetimesReport } from '../model/lifetimes.js';
import type { RegistrationObservation } from '../model/registration.js';
import { graphOfTraceSyn, missingReason, notTracedReason, reasonText, type TraceSynReport } from '../model/trace-syn.js';
import { hasFilterAtLocalIn, judgeRegistration } from './registration.js';

function claim(id: Claim['id'], port: number, status: Claim['status'], evidence: Evidence[], reason?: string): Claim {
  return { id, claim: CLAIM_WORDS[id], status, evidence, ...(reason ? { reason } : {}), commands: explainCommands(id, port) };
}

const hooksEvidence = (r: TraceSynReport): Evidence => ({
  kind: 'hooks',
  title: `hooks of the server netns (${r.family}), in invocation order`,
  hooks: r.hooks,
  shows: 'the conntrack entries (ct *) and where the filter sits between them',
});

/** Claim 0 (the article's opening), from the registration step. */
export function conntrackRegistersLazily(o: RegistrationObservation, port: number): Claim {
  const v = judgeRegistration(o);
  if (v.status === 'not-observable') return claim('conntrack-registers-lazily', port, 'not-observable', [], v.reason);
  const ev: Evidence[] = [
    { kind: 'hooks', title: 'hooks of a fresh netns with a TCP connection through it, no rule', hooks: o.byRule.hooksBefore, shows: v.facts[0]! },
    { kind: 'hooks', title: `the same netns after \`${o.byRule.rule}\``, hooks: o.byRule.hooksAfter, shows: v.facts[1]! },
  ];
  if (o.byModule.status === 'observed') {
    ev.push({ kind: 'hooks', title: `a fresh netns with no rule, after \`${o.byModule.command}\``, hooks: o.byModule.hooks, shows: v.facts[2]! });
  }
  return claim('conntrack-registers-lazily', port, v.status, ev, o.byModule.status === 'observed' ? undefined : `(${v.facts[2]})`);
}

/** The listing's own warnings, as a clause of a reason: what it said about itself, or that it said nothing. */
function listingWarnings(r: TraceSynReport): string {
  if (r.hookWarnings === undefined) return '';
  return r.hookWarnings.length ? `; the listing's warnings: ${r.hookWarnings.join('; ')}` : '; the listing gave no warning';
}

/** Claim 1, from the hook listing of the server netns. */
export function whereConntrackSits(r: TraceSynReport, port: number): Claim {
  const failed = r.unavailable.find((u) => u.observation === 'hooks');
  if (failed) return claim('where-conntrack-sits', port, 'not-observable', [], failed.reason);
  // The instrument checked against what the run itself did: the sandbox's DROP rule registered a
  // filter hook at LOCAL_IN, so a listing without one does not show the netns as it was.
  if (!hasFilterAtLocalIn(r.hooks)) {
    const seen = r.hooks.length ? 'lacks' : 'is empty: it lacks';
    return claim('where-conntrack-sits', port, 'not-observable', r.hooks.length ? [hooksEvidence(r)] : [],
      `the hook listing of the server netns ${seen} the filter hook at LOCAL_IN that the sandbox's own DROP rule registered, so it does not show where conntrack sits${listingWarnings(r)}`);
  }
  const pre = r.hooks.find((h) => h.hook === 'PRE_ROUTING')?.entries ?? [];
  const inp = r.hooks.find((h) => h.hook === 'LOCAL_IN')?.entries ?? [];
  const ctPre = pre.find((e) => e.conntrack && e.owner === 'conntrack');
  const filterIdx = inp.findIndex((e) => ['iptables', 'ip6tables', 'nftables'].includes(e.owner));
  const confirmIdx = inp.findIndex((e) => e.conntrack && /confirm/.test(e.callback));
  const ok = Boolean(ctPre) && filterIdx >= 0 && confirmIdx > filterIdx && inp[confirmIdx]!.priority === NF_PRI_LAST;
  const ev: Evidence = {
    ...hooksEvidence(r),
    shows: ok
      ? `PRE_ROUTING: ${ctPre!.callback} at ${ctPre!.priority}; LOCAL_IN: the filter (${inp[filterIdx]!.callback}, ${inp[filterIdx]!.priority}) runs before ${inp[confirmIdx]!.callback} (${inp[confirmIdx]!.priority})`
      : `PRE_ROUTING conntrack callback: ${ctPre?.callback ?? 'none'}; LOCAL_IN filter at position ${filterIdx}, confirm at position ${confirmIdx}`,
  };
  return claim('where-conntrack-sits', port, ok ? 'confirmed' : 'refuted', [ev]);
}

/** Claim 2, from the callback hits (kprobes). */
export function conntrackSawTheSyn(r: TraceSynReport, port: number): Claim {
  const why = notTracedReason(r, 'callbacks');
  if (why !== null) return claim('conntrack-saw-the-syn', port, 'not-observable', [], why);
  const pre = r.callbacks.filter((c) => c.hook === 'PRE_ROUTING' && c.conntrack && c.hits > 0);
  const dropper = r.callbacks.find((c) => c.dropped);
  const ev: Evidence = {
    kind: 'callbacks',
    title: 'netfilter callbacks that ran for the SYN, in order, with their verdicts (kprobes and kretprobes, filtered in the kernel on TCP, port and SYN; * = conntrack)',
    callbacks: r.callbacks,
    shows: (pre.length
      ? `${pre.map((c) => `${c.callback} (${c.verdict ?? 'verdict not seen'})`).join(', ')} ran at PRE_ROUTING for the ${r.synsSent} SYN(s) sent`
      : 'no conntrack callback ran at PRE_ROUTING') + (dropper ? `; ${dropper.callback} at ${dropper.hook} dropped it (returned ${dropper.verdict ?? '?'})` : ''),
  };
  return claim('conntrack-saw-the-syn', port, pre.length ? 'confirmed' : 'refuted', [ev]);
}

/** Claim 3, from the unconfirmed entry's life, the table, the call tree and the lifetimes run. */
export function entryCreatedAndDiscarded(r: TraceSynReport, g: GraphReport | null, life: LifetimesReport | null, lifeWhy: string | null, port: number): Claim {
  const ev: Evidence[] = [];
  ev.push({
    kind: 'conntrack',
    title: `conntrack -L in the server netns, flows to port ${port}`,
    lines: r.conntrackEntry ? [`${r.conntrackEntry.state ?? ''} ${r.conntrackEntry.original} ${r.conntrackEntry.flags.map((f) => `[${f}]`).join(' ')}`] : [],
    shows: r.conntrackEntries === 0 ? 'no flow for the dropped SYN: the table never held it' : `${r.conntrackEntries} flow(s): the entry reached the table`,
  });
  if (r.drop) {
    ev.push({
      kind: 'drop',
      title: `the drop (skb:kfree_skb): ${reasonText(r.drop.reason)} at ${r.drop.hook ?? '?'} via ${r.drop.callback ?? '?'}`,
      frames: r.drop.stack.slice(0, 14),
      shows: `dropped by ${r.drop.callback ?? '?'} at ${r.drop.hook ?? '?'} (priority ${r.drop.priority ?? '?'}), reason ${reasonText(r.drop.reason)}`,
    });
  }
  const path = g ? findPath(g.callTrees.map((t) => t.tree), ALLOC_PATH) : null;
  // Kernels up to 5.18 keep unconfirmed entries on a per-cpu list; its removal shows in the free's tree (5.10).
  const offUnconfirmed = g ? findPath(g.callTrees.map((t) => t.tree), ['destroy_conntrack', 'nf_ct_del_from_dying_or_unconfirmed_list']) : null;
  if (g && g.callTrees.length) {
    ev.push({
      kind: 'call-tree',
      title: `function_graph rooted at ${g.roots.join(', ')} (» marks the allocation path)`,
      trees: g.callTrees.map((t) => t.tree), mark: path ? [...ALLOC_PATH] : [], maxDepth: 5,
      shows: (path ? `${path.map((n) => n.fn).join(' → ')}: the entry is allocated while the SYN is in conntrack's callback` : 'the allocation path is not in the call trees') +
        (offUnconfirmed ? `; ${offUnconfirmed.map((n) => n.fn).join(' → ')}: the free takes it off the per-cpu unconfirmed list, the one place such an entry is kept on kernels that have that list (up to 5.18)` : ''),
    });
  }
  const u = r.unconfirmed;
  if (u) {
    ev.push({
      kind: 'stack',
      title: 'the entry\'s free (kprobe nf_conntrack_free), IPS_CONFIRMED clear',
      frames: u.destroyStack.slice(0, 14),
      shows: `allocated ${u.allocated}, confirmed ${u.confirmed}, freed unconfirmed ${u.freedUnconfirmed}${u.lifetimeUs ? `, lived ${u.lifetimeUs.min}-${u.lifetimeUs.max} us` : ''}`,
    });
  }
  if (life) {
    ev.push({
      kind: 'lifetimes',
      title: `lifetimes of every entry during a burst of SYNs to port ${port}`,
      lifetimes: life,
      shows: `${life.counts.allocated} allocated, ${life.counts.freedUnconfirmed} freed unconfirmed, ${life.counts.confirmed} confirmed`,
    });
  }
  if (!u) {
    return claim('entry-created-and-discarded', port, 'not-observable', ev,
      missingReason(r, 'unconfirmed') + (!life && lifeWhy ? ` (the lifetimes of a burst were not observed either: ${lifeWhy})` : ''));
  }
  const lifeOk = !life || (life.counts.freedUnconfirmed > 0 && life.counts.confirmed === 0);
  // Call trees that hold no allocation path refute; no call tree at all (the SYN's softirq ran in
  // no traced task) observed nothing, and is said.
  const treesSeen = Boolean(g?.tracer) && (g?.callTrees.length ?? 0) > 0;
  const ok = u.allocated >= 1 && u.freedUnconfirmed >= 1 && u.confirmed === 0 && r.conntrackEntries === 0 && (treesSeen ? path !== null : true) && lifeOk;
  return claim('entry-created-and-discarded', port, ok ? 'confirmed' : 'refuted', ev,
    [
      !g?.tracer && g ? `(the call tree was not observed: ${callGraphWhy(g)})` : '',
      g?.tracer && !treesSeen ? '(the call tree was not observed: no root function ran in a task function_graph followed, the sender and, where it was found, its CPU\'s ksoftirqd)' : '',
      !life && lifeWhy ? `(the lifetimes of a burst were not observed: ${lifeWhy})` : '',
    ].filter(Boolean).join(' ') || undefined);
}

/** Why the call tree is missing: the reason trace-syn recorded for it (acquireCallGraph always records one). */
function callGraphWhy(g: GraphReport): string {
  const why = g.unavailable.filter((x) => x.observation === 'call-graph').map((x) => x.reason);
  if (!why.length) throw new Error('trace-syn report: no call tree and no reason for it');
  return why.join('; ');
}

/** Claim 4, from the --after-confirm run. */
export function priorityTrick(r: TraceSynReport, port: number): Claim {
  const e = r.conntrackEntry;
  const ev: Evidence[] = [
    {
      kind: 'conntrack',
      title: `conntrack -L after the SYN, drop chain at ${NF_PRI_LAST} registered before conntrack`,
      lines: e ? [`${e.state ?? ''} ${e.original} ${e.flags.map((f) => `[${f}]`).join(' ')}`] : [],
      shows: e ? `the flow is in the table as ${e.state} ${e.flags.map((f) => `[${f}]`).join(' ')}` : 'no flow in the table',
    },
    hooksEvidence(r),
  ];
  const counter = r.ruleCounter ?? r.drop?.ruleCounter ?? null;
  if (counter) {
    ev.push({ kind: 'counter', title: 'the drop rule\'s counter', lines: [`${counter.rule}: ${counter.packets} packet(s)`], shows: `the SYN was dropped (${counter.packets} packet(s))` });
  }
  const dropped = (counter?.packets ?? 0) >= 1 || (r.drop?.count ?? 0) >= 1;
  const ok = Boolean(e && e.state === 'SYN_SENT' && e.flags.includes('UNREPLIED')) && dropped;
  return claim('priority-trick', port, ok ? 'confirmed' : 'refuted', ev);
}

/** The five claims in the article's order, each judged from its evidence. */
export function judgeLab(i: LabInputs): Claim[] {
  return [
    conntrackRegistersLazily(i.registration, i.port),
    whereConntrackSits(i.plain, i.port),
    conntrackSawTheSyn(i.plain, i.port),
    entryCreatedAndDiscarded(i.plain, graphOfTraceSyn(i.plain), i.life, i.lifeWhy, i.port),
    priorityTrick(i.trick, i.port),
  ];
}

/** The lab report of a capture's inputs, as `nfscope lab --target qemu` made it. */
export function labReportOf(kernel: string, inputs: LabInputs): LabReport {
  const d = inputs.plain.drop;
  return {
    schemaVersion: LAB_SCHEMA_VERSION, kernel, target: 'qemu', port: inputs.port, claims: judgeLab(inputs),
    pipeline: { hooks: inputs.plain.hooks, dropAt: d ? { hook: d.hook, priority: d.priority, callback: d.callback } : null },
  };
}
