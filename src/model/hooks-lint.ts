/**
 * `nfscope hooks --lint`: findings on a namespace's hook table and the rules behind it.
 * The model both renderings share, and the rules' facts the analysis reads.
 */
import type { ChainName, Family, HookEntry } from './hooks.js';

export const HOOKS_LINT_SCHEMA_VERSION = 1;

/** info: worth knowing, exit 0; warning: a rule that does not do what it says, exit 1. */
export type Severity = 'info' | 'warning';

export type LintCode =
  | 'NFS001' // a rule reads conntrack state in a chain that runs before conntrack
  | 'NFS002' // two entries at one priority on one hook: order is registration's
  | 'NFS003' // iptables-legacy and nf_tables both hold rules on one hook
  | 'NFS004' // notrack where conntrack has already run
  | 'NFS005' // conntrack's hooks registered, no rule reads its state
  | 'NFS006'; // a hook filtered for one IP family, not the other

/** A rule as the finding names it: `nft -a list chain FAMILY TABLE CHAIN` shows it by its handle. */
export interface RuleRef {
  /** nft's family (ip, ip6, inet, …), or `iptables-legacy` / `ip6tables-legacy`. */
  family: string;
  table: string;
  chain: string;
  /** nf_tables' rule handle; the rule's line in the save output for iptables-legacy. */
  handle: number;
  /** What in it the finding is about, as nft or iptables spells it: "ct state", "notrack", "-m conntrack". */
  what: string;
}

/** A hook entry as a finding names it. */
export interface EntryRef {
  priority: number;
  callback: string;
  owner: HookEntry['owner'];
  chain?: ChainName;
  /** The entry it runs behind: a NAT chain's nf_nat callback (5.12+). */
  under?: string;
}

/** A hook entry as a finding or a diff names it; `under`: the entry it runs behind. */
export function entryRef(e: HookEntry, under?: HookEntry): EntryRef {
  return { priority: e.priority, callback: e.callback, owner: e.owner, ...(e.chain ? { chain: e.chain } : {}), ...(under ? { under: under.callback } : {}) };
}

export interface Finding {
  code: LintCode;
  severity: Severity;
  /** One line, this finding's own facts: which chain, which priority, against what. */
  message: string;
  /** Why it matters, one sentence (the same for every finding of the code). */
  why: string;
  /** What to change. */
  fix: string;
  /** A command that shows the effect on packets. */
  shownBy: string;
  /** The lab scenario that shows this pitfall, and its fix, in a sandbox of its own (`nfscope lab --scenario NAME`). */
  scenario?: string;
  family: Family;
  hook: string;
  device?: string;
  entries: EntryRef[];
  rules: RuleRef[];
}

export interface HooksLintReport {
  schemaVersion: number;
  kernel: string;
  netns: string;
  /** Where the rules were read from, each tool as run: "nft -j list ruleset", "iptables-legacy-save". */
  sources: string[];
  findings: Finding[];
  /** What could not be read, and so was not judged. */
  notJudged: string[];
}

/** `nfscope hooks --lint --all-netns --json`. */
export interface HooksLintAllReport {
  schemaVersion: number;
  reports: HooksLintReport[];
}

/** A base chain as `nft -j list ruleset` gives it, with what its rules (and the chains they jump to) do. */
export interface RulesetChain {
  family: string;
  table: string;
  name: string;
  /** prerouting, input, … (nft's words); absent for a regular chain. */
  hook?: string;
  prio?: number;
  type?: string;
  policy?: string;
  devices: string[];
}

/** A rule's features the lint reads. */
export interface RulesetRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  /** ct keys it matches or reads ("state", "status", "mark", …); a `ct zone set` is not a read. */
  ctReads: string[];
  /** ct keys it sets (`ct mark set`, `ct zone set`, `ct helper set`): it needs conntrack too. */
  ctWrites: string[];
  notrack: boolean;
  nat: boolean;
  drop: boolean;
  /**
   * Whether where it runs among a hook's entries can change what happens: it sets something
   * (marks, ct keys, payload), logs, queues, does NAT or notrack. A rule that only accepts, drops
   * or jumps gives the same result in any order of base chains (a drop anywhere wins).
   */
  ordered: boolean;
  /** Chains it jumps or goes to (same table). */
  jumps: string[];
}

export interface Ruleset {
  chains: RulesetChain[];
  rules: RulesetRule[];
}

/** One iptables-legacy table as `iptables-legacy-save` prints it. */
export interface LegacyTable {
  /** iptables-legacy or ip6tables-legacy. */
  tool: 'iptables-legacy' | 'ip6tables-legacy';
  table: string;
  /** Built-in chains with their policies. */
  policies: Record<string, string>;
  /** User-defined chains (":NAME - [0:0]"). */
  userChains: string[];
  rules: { chain: string; line: number; text: string; ctReads: boolean; ctUse: boolean; notrack: boolean; nat: boolean; drop: boolean; ordered: boolean; jump?: string }[];
}

export const HOOKS_DIFF_SCHEMA_VERSION = 1;

/** One entry's change between two listings of one hook. */
export type EntryChange =
  | { kind: 'added' | 'removed'; entry: EntryRef }
  | { kind: 'priority'; entry: EntryRef; from: number; to: number }
  /** Same priority, another place among the entries both listings have: equal priorities reordered (a reload). */
  | { kind: 'moved'; entry: EntryRef; from: number; to: number };

export interface HookDiff {
  family: Family;
  hook: string;
  device?: string;
  changes: EntryChange[];
}

/** Where a listing came from: a saved `hooks --json` file, or this run's own listing. */
export interface ListingSource {
  source: string;
  kernel: string;
  netns: string;
}

/** `nfscope hooks --diff A [B]`: B is this run's listing when only A is given. */
export interface HooksDiffReport {
  schemaVersion: number;
  a: ListingSource;
  b: ListingSource;
  hooks: HookDiff[];
  /** How the two were compared, where it is not entry for entry (one listing names chains, the other does not). */
  notes: string[];
}
