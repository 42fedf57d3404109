/**
 * The rules behind a hook table, as their own tools print them: `nft -j list ruleset`,
 * `iptables-legacy-save`, `ip6tables-legacy-save`, run inside the namespace. A tool that
 * is not installed is a reason (returned); a tool that runs and fails is a failure (thrown).
 */
import { run } from '../lib/run.js';
import type { Target } from '../lib/target.js';
import type { LegacyTable, Ruleset } from '../model/hooks-lint.js';
import { parseIptablesSave } from '../parsers/iptables-save.js';
import { parseNftRuleset } from '../parsers/nft-ruleset.js';
import { inNetns, type NetnsRef } from './netns.js';

/** What was read: the parsed value, the argv and its raw output (kept as a fixture when capturing); or why not. */
export type Read<T> = { value: T; argv: string[]; raw: string } | { value: null; why: string };

export const nftRulesetArgv = (nft: string, ns: NetnsRef) => inNetns(ns, [nft, '-j', 'list', 'ruleset']);
export const legacySaveArgv = (save: string, ns: NetnsRef) => inNetns(ns, [save]);

export async function readNftRuleset(target: Target, ns: NetnsRef): Promise<Read<Ruleset>> {
  const nft = await target.which('nft');
  if (!nft) return { value: null, why: 'nf_tables rules not read: nft is not installed' };
  const argv = nftRulesetArgv(nft, ns);
  const raw = (await run(target, argv)).stdout;
  return { value: parseNftRuleset(raw), argv, raw };
}

/**
 * One legacy backend's tables. Run only where the hook table shows that backend's entries:
 * then its module is loaded and its tables exist in the namespace, and the save lists them
 * without asking for a module or a table the namespace did not have.
 */
export async function readLegacy(target: Target, ns: NetnsRef, tool: LegacyTable['tool']): Promise<Read<LegacyTable[]>> {
  const save = await target.which(`${tool}-save`);
  if (!save) return { value: null, why: `${tool} rules not read: ${tool}-save is not installed` };
  const argv = legacySaveArgv(save, ns);
  const raw = (await run(target, argv)).stdout;
  return { value: parseIptablesSave(raw, tool), argv, raw };
}
