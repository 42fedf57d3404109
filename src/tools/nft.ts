/**
 * The nft argv the scenarios run (pure builders, and the one reader of rule counters). A ruleset
 * goes in on stdin (`nft -f -`): one guest command for a whole table, applied by nft in one
 * transaction, and no shell between nfscope and nft. The texts are nfscope's own (its tables'
 * names carry the run's id); user input never reaches them.
 */
import type { Target } from '../targets/target.js';
import { run } from '../lib/run.js';
import { parseNftRuleCounters, type NftRuleCounter } from '../parsers/nft-rule-counters.js';
import { inNetns, type NetnsRef } from './netns.js';

export const nftLoadArgv = (ns: NetnsRef): string[] => inNetns(ns, ['nft', '-f', '-']);
export const nftListTableArgv = (ns: NetnsRef, family: string, table: string): string[] => inNetns(ns, ['nft', '-j', 'list', 'table', family, table]);
export const nftDeleteTableArgv = (ns: NetnsRef, family: string, table: string): string[] => inNetns(ns, ['nft', 'delete', 'table', family, table]);

/** Loads a ruleset text; a failure is nft's, with its argv, exit status and stderr. */
export async function nftLoad(target: Target, ns: NetnsRef, ruleset: string): Promise<void> {
  await run(target, nftLoadArgv(ns), { input: ruleset, timeoutMs: 30_000 });
}

/** The counters of a table's rules, by comment; a rule of the table without a comment is not one of the scenario's. */
export async function nftTableCounters(target: Target, ns: NetnsRef, family: string, table: string): Promise<{ counters: NftRuleCounter[]; raw: string; argv: string[] }> {
  const argv = nftListTableArgv(ns, family, table);
  const r = await run(target, argv, { timeoutMs: 30_000 });
  return { counters: parseNftRuleCounters(r.stdout), raw: r.stdout, argv };
}
