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
import { BPF_RUN_FN, XT_TABLE_FN } from '../model/hooks.js';

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

/**
 * What the target allows: BTF with struct nft_chain (vmlinux, or the
 * nf_tables module's own BTF) and the callbacks' addresses. null with a
 * reason when chains cannot be named on this kernel.
 */
export async function chainProbe(target: Target): Promise<{ symbols: ChainSymbols } | { why: string }> {
  // The grep is 55 ms of a 0.45 s listing (6.18): kept for this boot and module placement.
  // grep: 0 found, 1 none (both an answer, kept); a failure (2, a timeout) is not kept, and its
  // reason is why chains are not named: not "no nf_tables callback".
  const found = await cachedProbe<string | { failed: string }>('chain-kallsyms', await bootKey(target), (v): v is string => typeof v === 'string', async () => {
    const argv = ['grep', '-E', `\\s(${CHAIN_FN.source.slice(1, -1)}|${NAT_FN.source.slice(1, -1)}|${NAT_CHAIN_FN})(\\s|$)`, '/proc/kallsyms'];
    const ks = runResult(await target.exec(argv, { timeoutMs: 30_000 }), [0, 1]);
    return ks.ok ? { value: ks.stdout, keep: true } : { value: { failed: ks.reason }, keep: false };
  });
  if (typeof found !== 'string') return { why: `the callbacks' addresses could not be read: ${found.failed}` };
  const lines = found;
  const symbols = chainSymbols(lines);
  if (symbols.chain.length === 0 && symbols.nat4.length + symbols.nat6.length === 0) return { why: 'no nf_tables or nf_nat callback in /proc/kallsyms (not loaded, or addresses hidden)' };
  // Where nf_tables is a module, struct nft_chain is in its own BTF (/sys/kernel/btf/nf_tables), which
  // bpftrace 0.17 does not consult for a BEGIN probe: it sees the struct only declared (Debian 6.1 and
  // 6.12; asking with `bpftrace -lv` cost a bpftrace start, tens of seconds under qemu TCG). Built into
  // vmlinux (the 6.18 host), the fields are there. A fill that still fails to compile falls back
  // (backends/hooks.ts).
  // A module's symbols end in [module] in kallsyms. Without module BTF (5.10: CONFIG_DEBUG_INFO_BTF_MODULES
  // came in 5.11) struct nft_chain of a modular nf_tables is in no BTF at all: nothing to compile against.
  const modular = /\[nf_tables\]/.test(lines);
  if (modular && !(await target.exists('/sys/kernel/btf/nf_tables'))) {
    return { why: 'nf_tables is a module and the kernel has no BTF of it (module BTF came in 5.11): chains are not named here' };
  }
  if (await target.exists('/sys/kernel/btf/nf_tables')) {
    return { why: 'struct nft_chain is in the nf_tables module\'s BTF, which bpftrace does not read from a BEGIN probe (0.17): chains are not named here; `nft list hooks` names them where the kernel has CONFIG_NETFILTER_NETLINK_HOOK' };
  }
  if (!(await target.exists('/sys/kernel/btf/vmlinux'))) return { why: 'no BTF: chains are not named' };
  if (symbols.nat4.length + symbols.nat6.length && (await target.exists('/sys/kernel/btf/nf_nat'))) {
    symbols.nat4 = [];
    symbols.nat6 = [];
  }
  return { symbols };
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

/** nf_hook_run_bpf's address, for the BPF walk (programs/nf_hooks.ts bpfProgsProgram); asked only where a listing holds one. */
export async function bpfRunner(target: Target): Promise<{ runner: string } | { why: string }> {
  const r = await kallsymsAddresses(target, [BPF_RUN_FN], `${BPF_RUN_FN}'s`);
  return 'why' in r ? r : r.addresses.length === 1 ? { runner: r.addresses[0]! } : { why: `/proc/kallsyms shows ${BPF_RUN_FN} ${r.addresses.length} times` };
}
