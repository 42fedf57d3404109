/**
 * The hook lint: a namespace's hook table (what the kernel runs, in order) read against
 * its rules (what they need from it). Pure. Each finding names the entries and rules
 * it is about; nothing is judged from a source that could not be read (the caller
 * passes null and says why in notJudged).
 */
import type { PitfallId } from '../model/scenario.js';
import { NFT_HOOK, type Family, type HookEntry, type HookList, type HooksReport } from '../model/hooks.js';
import { LEGACY_CB } from '../model/owners.js';
import { entryRef, type EntryRef, type Finding, type LegacyTable, type LintCode, type RuleRef, type Ruleset, type RulesetChain, type RulesetRule, type Severity } from '../model/hooks-lint.js';

export interface LintInput {
  report: HooksReport;
  /** null: not read (notJudged says why). */
  ruleset: Ruleset | null;
  /** iptables-legacy and ip6tables-legacy tables; null: not read. */
  legacy: LegacyTable[] | null;
  /** How a command reaches this namespace, for the commands a finding suggests ("--netns x" or ""). */
  netnsArg: string;
  /**
   * The namespace's sysctls NFS006 weighs (a family that is off, or does not forward, needs no
   * filter there); a value is the file's text, null when it could not be read (then not weighed).
   */
  sysctls?: { ipv4Forward: string | null; ipv6Forward: string | null; ipv6Disabled: string | null };
}

const WHY: Record<LintCode, string> = {
  NFS001: 'conntrack has not looked the packet up yet at this priority, so nf_tables reads its ct state as invalid (iptables\' -m conntrack likewise sees none): `ct state established accept` never matches there and `ct state invalid drop` drops everything.',
  NFS002: 'entries of equal priority run in reverse order of registration, so which one runs first changes when either is reloaded.',
  NFS003: 'iptables-legacy rules do not show in `nft list ruleset` or `iptables-nft -L`, so one backend can drop what the other accepts with nobody seeing it.',
  NFS004: 'conntrack has already made an entry for the packet at this point, so notrack leaves it tracked.',
  NFS005: 'every packet in this namespace pays conntrack\'s lookup and an entry in its table, and no rule here reads its state, sets a conntrack key or does NAT.',
  NFS006: 'packets of the unfiltered family reach the same sockets and routes with no rule in their way.',
};

/** The lab scenario that reproduces each pitfall (model/scenario.ts): judged, with its fix, on a sandbox of its own. */
const SCENARIO: Partial<Record<LintCode, PitfallId>> = {
  NFS001: 'early-chain',
  NFS002: 'equal-priority',
  NFS003: 'mixed-backends',
  NFS004: 'notrack',
};

const FIX: Record<LintCode, string> = {
  NFS001: 'move the chain after conntrack (priority -199 or more, e.g. -190 or "filter"), or match in a later chain.',
  NFS002: 'give each chain its own priority.',
  NFS003: 'keep one backend: move the iptables-legacy rules to nf_tables (iptables-legacy-save | iptables-restore-translate) and flush the legacy tables.',
  NFS004: 'put notrack in a prerouting or output chain at priority raw (-300), before conntrack (-200).',
  NFS005: 'nothing, if something outside the rules needs it; else remove what registered it (a ct helper, timeout or expectation object no rule uses, a table left behind) or use it in a rule.',
  NFS006: 'use an inet table (both families) or add the other family\'s rules.',
};

const LEGACY_HOOK: Record<string, string> = {
  PREROUTING: 'PRE_ROUTING', INPUT: 'LOCAL_IN', FORWARD: 'FORWARD', OUTPUT: 'LOCAL_OUT', POSTROUTING: 'POST_ROUTING',
};
/** nft family → the hook lists it registers on. */
const NFT_FAMILIES: Record<string, Family[]> = { ip: ['ipv4'], ip6: ['ipv6'], inet: ['ipv4', 'ipv6'], arp: ['arp'], bridge: ['bridge'], netdev: ['netdev'] };
const LEGACY_FAMILY: Record<LegacyTable['tool'], Family> = { 'iptables-legacy': 'ipv4', 'ip6tables-legacy': 'ipv6' };

/** Owners whose entries run rules a user wrote. */
const RULE_OWNERS = new Set<HookEntry['owner']>(['nftables', 'iptables', 'ip6tables', 'arptables', 'ebtables', 'bpf']);
/** iptables-legacy's tables by the priority they register at (NF_IP_PRI_*): which table an unnamed ipt_do_table entry is. */
const LEGACY_TABLE_AT: Record<number, string[]> = { [-300]: ['raw'], [-150]: ['mangle'], [-100]: ['nat'], 0: ['filter'], 50: ['security'], 100: ['nat'] };
/** conntrack's entry that looks the packet up (not confirm, not helpers). */
const CT_IN = /^(ipv[46]_conntrack_(in|local)|nf_conntrack_in)/;

const ref = entryRef;
/** A hook's entries and those run behind them (NAT chains and iptable_nat under nf_nat's entry, 5.12+). */
const withNested = (l: HookList): { e: HookEntry; under?: HookEntry }[] => l.entries.flatMap((e) => [{ e }, ...(e.nested ?? []).map((n) => ({ e: n, under: e }))]);

export function lintHooks(input: LintInput): Finding[] {
  const { report, ruleset, legacy } = input;
  const ns = input.netnsArg ? ` ${input.netnsArg}` : '';
  const lists = report.hooks;
  const list = (f: Family, hook: string): HookList | undefined => lists.find((l) => l.family === f && l.hook === hook && l.device === undefined);
  const ctPrio = (f: Family, hook: string): number | undefined => {
    const ps = (list(f, hook)?.entries ?? []).filter((e) => e.owner === 'conntrack' && CT_IN.test(e.callback)).map((e) => e.priority);
    return ps.length ? Math.min(...ps) : undefined;
  };
  const findings: Finding[] = [];
  const add = (code: LintCode, severity: Severity, f: Omit<Finding, 'code' | 'severity' | 'why' | 'fix'>) =>
    findings.push({ code, severity, ...f, why: WHY[code], fix: FIX[code], ...(SCENARIO[code] ? { scenario: SCENARIO[code] } : {}) });

  // Rules reachable from a base chain (its own, and those of the chains it jumps or goes to).
  const reach = (c: RulesetChain): RulesetRule[] => {
    if (!ruleset) return [];
    const seen = new Set<string>();
    const out: RulesetRule[] = [];
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const r of ruleset.rules) {
        if (r.family !== c.family || r.table !== c.table || r.chain !== name) continue;
        out.push(r);
        for (const j of r.jumps) visit(j);
      }
    };
    visit(c.name);
    return out;
  };
  /** A legacy built-in chain's rules, and those of the user chains it jumps or goes to. */
  const legacyReach = (t: LegacyTable, chain: string): LegacyTable['rules'] => {
    const seen = new Set<string>();
    const out: LegacyTable['rules'] = [];
    const visit = (c: string) => {
      if (seen.has(c)) return;
      seen.add(c);
      for (const r of t.rules.filter((x) => x.chain === c)) {
        out.push(r);
        if (r.jump) visit(r.jump);
      }
    };
    visit(chain);
    return out;
  };
  const legacyRef = (t: LegacyTable, r: LegacyTable['rules'][number]): RuleRef => ({ family: t.tool, table: t.table, chain: r.chain, handle: r.line, what: r.text });
  const ruleRef = (r: RulesetRule, what: string): RuleRef => ({ family: r.family, table: r.table, chain: r.chain, handle: r.handle, what });
  const chainLabel = (c: RulesetChain) => `${c.family} ${c.table} ${c.name}`;
  const baseChains = (ruleset?.chains ?? []).filter((c) => c.hook !== undefined && c.prio !== undefined);
  /** The hook table's entries for a base chain: named ones by name, else by priority and callback family. */
  const entriesOf = (c: RulesetChain, f: Family, hook: string): EntryRef[] =>
    (list(f, hook)?.entries ?? [])
      .filter((e) => e.priority === c.prio && e.owner === 'nftables' && (e.chain ? e.chain.family === c.family && e.chain.table === c.table && e.chain.chain === c.name : true))
      .map((e) => ref(e));

  // NFS001 and NFS004: nf_tables chains against conntrack's lookup, per IP family the chain runs in.
  /** Whether conntrack looks packets up in this family at all (its lookup entries sit on PRE_ROUTING and LOCAL_OUT). */
  const tracked = (f: Family) => ctPrio(f, 'PRE_ROUTING') !== undefined || ctPrio(f, 'LOCAL_OUT') !== undefined;
  for (const c of baseChains) {
    const hook = NFT_HOOK[c.hook!] ?? c.hook!;
    const rules = reach(c);
    const reads = rules.filter((r) => r.ctReads.length > 0);
    const notrack = rules.filter((r) => r.notrack);
    if (reads.length === 0 && notrack.length === 0) continue;
    for (const f of NFT_FAMILIES[c.family]?.filter((x) => x === 'ipv4' || x === 'ipv6') ?? []) {
      const ct = ctPrio(f, hook);
      const lookupHook = hook === 'PRE_ROUTING' || hook === 'LOCAL_OUT';
      if (lookupHook && ct !== undefined && c.prio! < ct && reads.length > 0) {
        add('NFS001', 'warning', {
          message: `chain ${chainLabel(c)} (${c.hook}, priority ${c.prio}) reads ${[...new Set(reads.flatMap((r) => r.ctReads))].map((k) => `ct ${k}`).join(', ')}, but conntrack looks ${f} packets up at ${ct}`,
          shownBy: `nfscope follow${ns} --nftrace`, family: f, hook,
          entries: [...entriesOf(c, f, hook), ...(list(f, hook)?.entries ?? []).filter((e) => e.owner === 'conntrack' && CT_IN.test(e.callback)).map((e) => ref(e))],
          rules: reads.map((r) => ruleRef(r, r.ctReads.map((k) => `ct ${k}`).join(', '))),
        });
      }
      // notrack is late where conntrack has looked the packet up already: at or after its lookup
      // on PRE_ROUTING/LOCAL_OUT, or on any later IP hook. Where conntrack is not registered, or
      // before any IP hook (inet ingress), it is not late.
      const ipHook = ['PRE_ROUTING', 'LOCAL_IN', 'FORWARD', 'LOCAL_OUT', 'POST_ROUTING'].includes(hook);
      const late = ipHook && tracked(f) && (lookupHook ? ct !== undefined && c.prio! >= ct : true);
      if (notrack.length > 0 && late) {
        add('NFS004', 'warning', {
          message: `chain ${chainLabel(c)} (${c.hook}, priority ${c.prio}) has notrack, ${lookupHook ? `at or after conntrack's lookup of ${f} packets at ${ct}` : `on ${hook}, after conntrack's lookup of ${f} packets on PRE_ROUTING or LOCAL_OUT`}`,
          shownBy: `nfscope follow${ns} --nftrace`, family: f, hook,
          entries: entriesOf(c, f, hook),
          rules: notrack.map((r) => ruleRef(r, 'notrack')),
        });
      }
    }
  }
  // NFS001 for iptables-legacy: only the raw table (-300) runs before conntrack (-200).
  for (const t of legacy ?? []) {
    const f = LEGACY_FAMILY[t.tool];
    for (const [chain, hook] of Object.entries(LEGACY_HOOK)) {
      const ct = ctPrio(f, hook);
      const early = (list(f, hook)?.entries ?? []).filter((e) => LEGACY_CB.test(e.callback) && ct !== undefined && e.priority < ct);
      const reads = legacyReach(t, chain).filter((r) => r.ctReads);
      if (t.table !== 'raw' || early.length === 0 || reads.length === 0) continue;
      add('NFS001', 'warning', {
        message: `${t.tool} table raw, chain ${chain}, reads conntrack state, but the raw table runs at ${early[0]!.priority}, before conntrack's lookup at ${ct}`,
        shownBy: `nfscope follow${ns}`, family: f, hook,
        entries: early.map((e) => ref(e)),
        rules: reads.map((r) => legacyRef(t, r)),
      });
    }
  }

  // NFS002: equal priorities on one hook, one of them a rule-bearer.
  for (const l of lists) {
    // The hook's own entries, and each list run behind one of them (NAT chains under nf_nat's entry).
    const groups: { es: HookEntry[]; under?: HookEntry }[] = [{ es: l.entries }, ...l.entries.filter((e) => e.nested?.length).map((e) => ({ es: e.nested!, under: e }))];
    for (const { es: all, under } of groups) {
    const byPrio = new Map<number, HookEntry[]>();
    for (const e of all) byPrio.set(e.priority, [...(byPrio.get(e.priority) ?? []), e]);
    for (const [prio, es] of byPrio) {
      const rulers = es.filter((e) => RULE_OWNERS.has(e.owner) || (under !== undefined && (e.chain !== undefined || e.callback === 'nft_nat_do_chain' || LEGACY_CB.test(e.callback))));
      // Behind nf_nat's entry every entry is a NAT chain (owner nat): none of them is conntrack's own.
      const stateful = under ? [] : es.filter((e) => e.owner === 'conntrack' || e.owner === 'nat' || e.owner === 'defrag');
      if (es.length < 2 || rulers.length === 0 || (rulers.length < 2 && stateful.length === 0)) continue;
      // The nf_tables chains at this priority on this hook: NAT chains for a list behind nf_nat's entry, others for the hook's own.
      const named = baseChains.filter((c) => c.prio === prio && (NFT_HOOK[c.hook!] ?? c.hook) === l.hook && NFT_FAMILIES[c.family]?.includes(l.family)
        && (l.device === undefined || c.devices.includes(l.device)) && (under ? c.type === 'nat' : c.type !== 'nat'));
      const who = es.map((e) => e.chain ? `${e.callback} (${e.chain.family} ${e.chain.table} ${e.chain.chain})` : e.callback).join(', ');
      // Order matters when conntrack, NAT or defrag is in the tie, or a tied chain's rules do more than
      // accept, drop or jump (a drop anywhere wins whatever the order); unknown rules count as mattering.
      const tiedLegacy = rulers.filter((e) => LEGACY_CB.test(e.callback));
      const legacyOrdered = tiedLegacy.length > 0 && (legacy === null || (under ? ['nat'] : LEGACY_TABLE_AT[prio] ?? []).some((table) =>
        legacy.filter((t) => LEGACY_FAMILY[t.tool] === l.family && t.table === table).some((t) => t.rules.some((r) => r.ordered || r.nat))));
      const nftOrdered = rulers.some((e) => !LEGACY_CB.test(e.callback)) && (ruleset === null || named.some((c) => reach(c).some((r) => r.ordered)));
      const matters = stateful.length > 0 || legacyOrdered || nftOrdered;
      add('NFS002', matters ? 'warning' : 'info', {
        message: `${l.family} ${l.hook}${l.device ? ` on ${l.device}` : ''}: ${es.length} entries at priority ${prio}${under ? ` behind ${under.callback}` : ''}: ${who}; they run in the order listed${named.length ? ` (chains at this priority: ${named.map(chainLabel).join(', ')})` : ''}${matters ? '' : '; their rules only accept, drop or jump, so the order changes nothing today'}`,
        shownBy: `nfscope hooks${ns} --family ${l.family}`, family: l.family, hook: l.hook, ...(l.device ? { device: l.device } : {}),
        entries: es.map((e) => ref(e, under)), rules: [],
      });
    }
    }
  }

  // NFS003: iptables-legacy and nf_tables on one hook.
  for (const l of lists) {
    const all = withNested(l);
    const legacyEntries = all.filter(({ e }) => LEGACY_CB.test(e.callback));
    const nftEntries = all.filter(({ e }) => e.owner === 'nftables' || e.callback === 'nft_nat_do_chain' || (e.chain !== undefined && !LEGACY_CB.test(e.callback)));
    if (legacyEntries.length === 0 || nftEntries.length === 0) continue;
    const tool = l.family === 'ipv4' ? 'iptables-legacy' : l.family === 'ipv6' ? 'ip6tables-legacy' : null;
    const chain = Object.entries(LEGACY_HOOK).find(([, h]) => h === l.hook)?.[0];
    // arptables and ebtables saves are not read: their rules are unknown, never "none".
    const tables = tool === null ? null : legacy?.filter((t) => t.tool === tool) ?? null;
    const rules = tables?.flatMap((t) => (chain ? legacyReach(t, chain) : []).map((r) => legacyRef(t, r))) ?? [];
    const policies = tables?.flatMap((t) => (chain && t.policies[chain] && t.policies[chain] !== 'ACCEPT' ? [`${t.table} ${chain} policy ${t.policies[chain]}`] : [])) ?? [];
    const busy = rules.length > 0 || policies.length > 0;
    add('NFS003', tables !== null && !busy ? 'info' : 'warning', {
      message: `${l.family} ${l.hook}: ${tool ?? 'the legacy backend'} (${legacyEntries.map(({ e, under }) => `${e.callback} at ${e.priority}${under ? ` behind ${under.callback}` : ''}`).join(', ')}) and nf_tables (${nftEntries.map(({ e, under }) => `${e.callback} at ${e.priority}${under ? ` behind ${under.callback}` : ''}`).join(', ')}) both registered; ${
        tables === null ? `the legacy rules were not read${tool === null ? ' (nfscope reads no arptables or ebtables save)' : ''}` : busy ? `legacy holds ${rules.length} rule(s)${policies.length ? ` and ${policies.join(', ')}` : ''} here` : 'the legacy tables hold no rule here (registered by an earlier iptables-legacy run)'}`,
      shownBy: `nfscope follow${ns}`, family: l.family, hook: l.hook,
      entries: [...legacyEntries, ...nftEntries].sort((a, b) => a.e.priority - b.e.priority).map(({ e, under }) => ref(e, under)), rules,
    });
  }

  // NFS005: conntrack registered, no rule reading it (info: something nfscope cannot see may want it).
  const ctEntries = lists.flatMap((l) => l.entries.filter((e) => e.owner === 'conntrack' && CT_IN.test(e.callback)).map((e) => ({ l, e })));
  if (ctEntries.length > 0 && ruleset !== null && legacy !== null) {
    const readers = ruleset.rules.filter((r) => r.ctReads.length > 0 || r.ctWrites.length > 0 || r.nat).length
      + legacy.flatMap((t) => t.rules.filter((r) => r.ctUse || r.nat)).length
      + legacy.filter((t) => t.table === 'nat').length
      + ruleset.chains.filter((c) => c.type === 'nat').length;
    if (readers === 0) {
      const { l } = ctEntries[0]!;
      add('NFS005', 'info', {
        message: `conntrack looks up every packet (${[...new Set(ctEntries.map(({ l: x }) => `${x.family} ${x.hook}`))].join(', ')}), and no nf_tables or iptables-legacy rule here reads its state, sets a conntrack key or does NAT`,
        shownBy: `conntrack -L${input.netnsArg ? ' (in the namespace)' : ''}`, family: l.family, hook: l.hook,
        entries: ctEntries.map(({ e }) => ref(e)), rules: [],
      });
    }
  }

  // NFS006: a hook filtered (something drops) for one IP family and not for the other.
  if (ruleset !== null && legacy !== null) {
    const drops = (f: Family, hook: string): { refs: RuleRef[]; chains: string[] } => {
      const refs: RuleRef[] = [];
      const chains: string[] = [];
      for (const c of baseChains) {
        if (!NFT_FAMILIES[c.family]?.includes(f) || (NFT_HOOK[c.hook!] ?? c.hook) !== hook) continue;
        const dropping = reach(c).filter((r) => r.drop);
        if (c.policy === 'drop') chains.push(`${chainLabel(c)} policy drop`);
        refs.push(...dropping.map((r) => ruleRef(r, 'drop')));
      }
      for (const t of legacy.filter((x) => LEGACY_FAMILY[x.tool] === f)) {
        const chain = Object.entries(LEGACY_HOOK).find(([, h]) => h === hook)?.[0]!;
        if (t.policies[chain] === 'DROP') chains.push(`${t.tool} ${t.table} ${chain} policy DROP`);
        refs.push(...legacyReach(t, chain).filter((r) => r.drop).map((r) => legacyRef(t, r)));
      }
      return { refs, chains };
    };
    const sc = input.sysctls;
    /** Why the other family needs no filter on this hook, when its sysctls say so. */
    const exempt = (off: Family, hook: string): boolean =>
      (off === 'ipv6' && sc?.ipv6Disabled?.trim() === '1')
      || (hook === 'FORWARD' && (off === 'ipv6' ? sc?.ipv6Forward : sc?.ipv4Forward)?.trim() === '0');
    for (const hook of ['PRE_ROUTING', 'LOCAL_IN', 'FORWARD', 'LOCAL_OUT', 'POST_ROUTING']) {
      const v4 = drops('ipv4', hook);
      const v6 = drops('ipv6', hook);
      const has = (d: typeof v4) => d.refs.length + d.chains.length > 0;
      if (has(v4) === has(v6)) continue;
      const [on, off, d] = has(v4) ? (['ipv4', 'ipv6', v4] as const) : (['ipv6', 'ipv4', v6] as const);
      if (exempt(off, hook)) continue;
      // A policy drop filters the whole hook; drop rules filter what they match (Docker's and
      // kube-proxy's address-specific drops): worth knowing, not a warning.
      add('NFS006', d.chains.length > 0 ? 'warning' : 'info', {
        message: `${hook}: ${on} packets meet ${[...d.chains, d.refs.length ? `${d.refs.length} drop rule(s)` : ''].filter(Boolean).join(' and ')}; ${off} packets meet none`,
        shownBy: `nfscope hooks${ns} --family ${off}`, family: on, hook,
        entries: (list(on, hook)?.entries ?? []).filter((e) => RULE_OWNERS.has(e.owner)).map((e) => ref(e)), rules: d.refs,
      });
    }
  }
  return findings;
}

/** Exit status for a gate: 1 when any finding is a warning. */
export function lintFails(findings: Finding[]): boolean {
  return findings.some((f) => f.severity === 'warning');
}
