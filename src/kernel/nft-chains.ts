/**
 * Naming nf_tables chains in the hook listing (bpf/nf_hooks.bt): a hook entry
 * whose callback is nft_do_chain_<family> has the chain as its priv pointer
 * (nf_tables_register_hook: ops->priv = chain); nf_nat's entries (5.12+:
 * nf_nat_ipv4_pre_routing and siblings) have a struct nf_nat_lookup_hook_priv
 * whose own nf_hook_entries hold the NAT chains (nft_nat_do_chain, priv = the
 * chain). What can be read depends on the kernel: BTF for struct nft_chain
 * (module BTF: 5.11+), and the callbacks' addresses from /proc/kallsyms.
 * What is read from the kernel is here; the fill itself is programs/nf_hooks.ts.
 */
import type { Target } from '../targets/target.js';
import { CHAIN_FN, NAT_CHAIN_FN, NAT_FN, type ChainSymbols } from '../model/hooks.js';
import { cachedProbe } from '../lib/boot-cache.js';
import { bootKey } from './boot-key.js';
import { runResult } from '../lib/run-result.js';
import { kallsymsTable } from '../parsers/hook-addresses.js';
import { BPF_RUN_FN, FLOWTABLE_FNS, XT_TABLE_FN } from '../model/hooks.js';
import type { StructLayout } from '../parsers/struct-layout.js';
import { chainCodeMembers } from '../programs/nf_hooks.js';
import { moduleLayouts } from './module-btf.js';

export { CHAIN_FN, NAT_CHAIN_FN, NAT_FN, type ChainSymbols };

/** kallsyms lines "ADDR t NAME [module]" → the addresses the fill needs. Pure. */
export function chainSymbols(kallsyms: string): ChainSymbols {
  const out: ChainSymbols = { chain: [], nat4: [], nat6: [], natChain: null };
  for (const line of kallsyms.split('\n')) {
    const [addr, type, name] = line.split(/\s+/);
    if (!addr || !name || !/^[0-9a-f]{16}$/.test(addr) || !/^[tT]$/.test(type ?? '') || /^0+$/.test(addr)) continue;
    const nat = NAT_FN.exec(name);
    if (CHAIN_FN.test(name)) out.chain.push(addr);
    else if (nat) (nat[1] === '4' ? out.nat4 : out.nat6).push(addr);
    else if (name === NAT_CHAIN_FN) out.natChain = addr;
  }
  return out;
}

/** The addresses a listing compiled in from `s`. */
function compiledAddresses(s: ChainSymbols): string[] {
  return [...s.chain, ...s.nat4, ...s.nat6, ...(s.natChain ? [s.natChain] : [])];
}

/**
 * A listing server built from `had` against the kernel's `now` (null: no chain naming):
 * - 'same': it names as a fresh one would;
 * - 'moved': an address it compiled in is gone (nf_tables or nf_nat unloaded or reloaded): its
 *   names would be read at stale addresses, so it must be replaced;
 * - 'loaded-since': the kernel has callbacks it was built without (nf_tables or nf_nat loaded
 *   after it started, as the lab's first rules load them): what it names is still right, and the
 *   chains it cannot name are said, rather than paid for with a second compile (11 s under TCG).
 */
export function serverChainState(had: ChainSymbols | null, now: ChainSymbols | null): 'same' | 'moved' | 'loaded-since' {
  if (JSON.stringify(had) === JSON.stringify(now)) return 'same';
  const present = new Set(now ? compiledAddresses(now) : []);
  if (had && compiledAddresses(had).some((a) => !present.has(a))) return 'moved';
  return 'loaded-since';
}

/** What chainProbe finds: the callbacks' addresses, and the layouts of the chain code's structs that are in module BTF. */
export type ChainProbe = { symbols: ChainSymbols; layouts: StructLayout[] } | { why: string } | { why: string; failed: true };

/**
 * What the target allows: the callbacks' addresses, and BTF for the structs the chain-naming code
 * reads (programs/nf_hooks.ts chainCodeMembers): the kernel's, or for those it lacks (nf_tables or
 * nf_nat built as modules) their module's BTF, read raw at its offsets (kernel/module-btf.ts).
 * A reason instead when chains cannot be named on this kernel.
 */
export async function chainProbe(target: Target): Promise<ChainProbe> {
  // The grep is 55 ms of a 0.45 s listing (6.18): kept for this boot and module placement.
  // grep: 0 found, 1 none (both an answer, kept); a failure (2, a timeout) is not kept, and its
  // reason is why chains are not named: not "no nf_tables callback".
  const found = await cachedProbe<string | { failed: string }>('chain-kallsyms', await bootKey(target), (v): v is string => typeof v === 'string', async () => {
    const argv = ['grep', '-E', `\\s(${CHAIN_FN.source.slice(1, -1)}|${NAT_FN.source.slice(1, -1)}|${NAT_CHAIN_FN})(\\s|$)`, '/proc/kallsyms'];
    const ks = runResult(await target.exec(argv, { timeoutMs: 30_000 }), [0, 1]);
    return ks.ok ? { value: ks.stdout, keep: true } : { value: { failed: ks.reason }, keep: false };
  });
  if (typeof found !== 'string') return { why: `the callbacks' addresses could not be read: ${found.failed}`, failed: true };
  const lines = found;
  const symbols = chainSymbols(lines);
  if (symbols.chain.length === 0 && symbols.nat4.length + symbols.nat6.length === 0) return { why: 'no nf_tables or nf_nat callback in /proc/kallsyms (not loaded, or addresses hidden)' };
  // A module's symbols end in [module] in kallsyms. Without module BTF (5.10: CONFIG_DEBUG_INFO_BTF_MODULES
  // came in 5.11) struct nft_chain of a modular nf_tables is in no BTF at all: nothing to compile against.
  const modular = /\[nf_tables\]/.test(lines);
  if (modular && !(await target.exists('/sys/kernel/btf/nf_tables'))) {
    return { why: 'nf_tables is a module and the kernel has no BTF of it (module BTF came in 5.11): chains are not named here' };
  }
  if (!(await target.exists('/sys/kernel/btf/vmlinux'))) return { why: 'no BTF: chains are not named' };
  // The modules the callbacks live in, as kallsyms tags them: where their structs' BTF is.
  const modules = [...new Set([...lines.matchAll(/\[(\w+)\]\s*$/gm)].map((m) => m[1]!))];
  // Built in (the 6.18 host): the kernel's own BTF has the structs, read typed as ever.
  if (modules.length === 0) return { symbols, layouts: [] };
  const r = await moduleLayouts(target, modules, chainCodeMembers());
  if ('why' in r) return { why: `chains are not named: ${r.why}` };
  const chainless = r.missing.filter((n) => n !== 'nf_nat_lookup_hook_priv');
  if (chainless.length) return { why: `chains are not named: struct ${chainless.join(', struct ')} is in none of this kernel's BTF (vmlinux, ${modules.join(', ') || 'no module'})` };
  // nf_nat's own struct in no BTF: its chains go unnamed, the others are named.
  if (r.missing.length) {
    symbols.nat4 = [];
    symbols.nat6 = [];
  }
  return { symbols, layouts: r.layouts };
}

/** The addresses of `names` in /proc/kallsyms (16 hex digits each), or why there are none. */
async function kallsymsAddresses(target: Target, names: readonly string[], what: string): Promise<{ addresses: string[] } | { why: string }> {
  const ks = runResult(await target.exec(['grep', '-E', `\\s(${names.join('|')})(\\s|$)`, '/proc/kallsyms'], { timeoutMs: 30_000 }), [0, 1]);
  if (!ks.ok) return { why: `${what} addresses could not be read: ${ks.reason}` };
  const addresses = [...kallsymsTable(ks.stdout)].filter(([, name]) => names.includes(name)).map(([addr]) => addr.padStart(16, '0'));
  return addresses.length ? { addresses } : { why: `/proc/kallsyms shows none of ${names.join(', ')} (addresses hidden?)` };
}

/**
 * The addresses of x_tables' table walkers (ipt_do_table and its siblings) from /proc/kallsyms, for
 * the x_tables walk (programs/nf_hooks.ts xtNamesProgram); asked only where a listing holds one.
 */
export async function xtWalkers(target: Target): Promise<{ walkers: string[] } | { why: string }> {
  const r = await kallsymsAddresses(target, Object.keys(XT_TABLE_FN), "the table walkers'");
  return 'why' in r ? r : { walkers: r.addresses };
}

/** The flowtable hooks' addresses, for the flowtable walk (programs/nf_hooks.ts flowtablesProgram); asked only where a listing holds one. */
export async function flowtableHooks(target: Target): Promise<{ hooks: string[] } | { why: string }> {
  const r = await kallsymsAddresses(target, FLOWTABLE_FNS, "the flowtable hooks'");
  return 'why' in r ? r : { hooks: r.addresses };
}

/** nf_hook_run_bpf's address, for the BPF walk (programs/nf_hooks.ts bpfProgsProgram); asked only where a listing holds one. */
export async function bpfRunner(target: Target): Promise<{ runner: string } | { why: string }> {
  const r = await kallsymsAddresses(target, [BPF_RUN_FN], `${BPF_RUN_FN}'s`);
  return 'why' in r ? r : r.addresses.length === 1 ? { runner: r.addresses[0]! } : { why: `/proc/kallsyms shows ${BPF_RUN_FN} ${r.addresses.length} times` };
}
