/**
 * Naming nf_tables chains in the hook listing (bpf/nf_hooks.bt): a hook entry
 * whose callback is nft_do_chain_<family> has the chain as its priv pointer
 * (nf_tables_register_hook: ops->priv = chain); nf_nat's entries (5.12+:
 * nf_nat_ipv4_pre_routing and siblings) have a struct nf_nat_lookup_hook_priv
 * whose own nf_hook_entries hold the NAT chains (nft_nat_do_chain, priv = the
 * chain). What can be read depends on the kernel: BTF for struct nft_chain
 * (module BTF: 5.11+), and the callbacks' addresses from /proc/kallsyms.
 */
import type { Target } from '../targets/target.js';
import { CHAIN_FN, NAT_CHAIN_FN, NAT_FN } from '../model/hooks.js';
import { cachedProbe } from '../lib/boot-cache.js';
import { bootKey } from './boot-key.js';
import { runResult } from '../lib/run-result.js';

export { CHAIN_FN, NAT_CHAIN_FN, NAT_FN };

export interface ChainSymbols {
  /** Addresses (hex, no 0x) of nft_do_chain_* entry callbacks. */
  chain: string[];
  /** Addresses of nf_nat's IPv4 hook callbacks, whose priv holds the NAT chains. */
  nat4: string[];
  /** The same for IPv6. */
  nat6: string[];
  /** Address of nft_nat_do_chain (a NAT chain's own callback), if any. */
  natChain: string | null;
}

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

/** A C record: entry <where>/<sub> read as a chain, its names as raw words (see nf_hooks.bt). */
function chainRecord(where: string, sub: string, chain: string): string {
  const words = (p: string) => [0, 8, 16, 24].map((o) => `*(uint64 *)(${p}${o ? ` + ${o}` : ''})`).join(', ');
  return `$ct = (uint64)((struct nft_chain *)${chain})->table;
        $tn = (uint64)((struct nft_table *)$ct)->name;
        $cn = (uint64)((struct nft_chain *)${chain})->name;
        printf("C %lu ${sub === '-1' ? '-1' : '%lu'} %d %lx %lx %lx %lx %lx %lx %lx %lx\\n", ${where},${sub === '-1' ? '' : ` ${sub},`} ((struct nft_table *)$ct)->family,
               ${words('$tn')},
               ${words('$cn')});`;
}

/**
 * The code that replaces NFT_CHAIN_NAMES (inside the entry loop) and
 * NFT_CHAIN_WALK (after it) in nf_hooks.bt. Pure: addresses in, bpftrace text
 * out. What the verifier walks sets the listing's time (6.18, bpftrace 0.17,
 * family mask 31: 680k of its million instructions and 0.45 s before this
 * design, 316k now; scripts/bench/hooks.mjs):
 * - Any test in the 18 x 32 entry loop makes the verifier follow both ways
 *   through every later entry: a lookup of the callback in a map cost 250k
 *   instructions, names read with str() 290k even without a test. So each
 *   entry is read as a chain with no test, its names as raw words (+35k), and
 *   the parser keeps the record only for an nft_do_chain_* callback, whose
 *   priv is the chain (nf_tables_register_hook).
 * - nf_nat has one entry per family and hook (nf_nat_register_fn: one
 *   lookup_hook_priv per hook). A second loop looks for it only where it can
 *   be (IPv4 and IPv6 slots but FORWARD), against that family's callbacks,
 *   notes it under its slot, and a third lists the chains behind each (at
 *   most 8, a warning beyond): 120k, where the same test inside the entry loop
 *   cost 310k.
 */
export function chainNamesCode(s: ChainSymbols): { inLoop: string; after: string } {
  const inLoop: string[] = [];
  const after: string[] = [];
  if (s.chain.length) inLoop.push(chainRecord('$s * 64 + $i', '-1', '$priv'));
  if (s.nat4.length || s.nat6.length) {
    const test = (addrs: string[]) => (addrs.length ? addrs.map((a) => `$fn == (uint64)0x${a}`).join(' || ') : '0');
    const slots = [0, 1, 3, 4, 5, 6, 8, 9].map((t) => `if ($t == ${t}) { $e = (uint64)$nf.hooks_ipv${t < 5 ? 4 : 6}[${t % 5}]; }`).join('\n      ');
    after.push(`$t = (uint64)0;
  while ($t < 10) {
    $e = (uint64)0;
    $bit = (uint64)1;
    if ($t >= 5) { $bit = 2; }
    if (($mask & $bit) != 0) {
      ${slots}
    }
    if ($e != 0) {
      $cnt = (uint64)((struct nf_hook_entries *)$e)->num_hook_entries;
      $i = (uint64)0;
      while ($i < $cnt && $i < 32) {
        $fn = *(uint64 *)($e + 8 + $i * 16);
        if ($t < 5) {
          if (${test(s.nat4)}) { @natp[$t] = *(uint64 *)($e + 8 + $i * 16 + 8); @natw[$t] = $t * 64 + $i; }
        } else {
          if (${test(s.nat6)}) { @natp[$t] = *(uint64 *)($e + 8 + $i * 16 + 8); @natw[$t] = $t * 64 + $i; }
        }
        $i++;
      }
    }
    $t++;
  }
  $t = (uint64)0;
  while ($t < 10) {
    $np = @natp[$t];
    if ($np != 0) {
      $w = @natw[$t];
      $ne = (uint64)((struct nf_nat_lookup_hook_priv *)$np)->entries;
      $nc = (uint64)0;
      if ($ne != 0) { $nc = (uint64)((struct nf_hook_entries *)$ne)->num_hook_entries; }
      $y = (uint64)0;
      while ($y < $nc && $y < 8) {
        $nfn = *(uint64 *)($ne + 8 + $y * 16);
        $nch = *(uint64 *)($ne + 8 + $y * 16 + 8);
        printf("n %lu %d %s\\n", $w, ((struct nf_hook_ops *)*(uint64 *)($ne + 8 + $nc * 16 + $y * 8))->priority, ksym($nfn));${s.natChain ? `
        ${chainRecord('$w', '$y', '$nch')}` : ''}
        $y++;
      }
      if ($nc > 8) { printf("W %lu chains behind nf_nat's entry %lu: the first 8 listed\\n", $nc, $w); }
    }
    $t++;
  }
  clear(@natp); clear(@natw);`);
  }
  return { inLoop: inLoop.join('\n        '), after: after.join('\n  ') };
}

/** nf_hooks.bt with the chain-naming code filled in. */
export function fillNfHooks(template: string, s: ChainSymbols): string {
  const c = chainNamesCode(s);
  return template
    .replace('/* NFT_CHAIN_INIT */', '')
    .replace('/* NFT_CHAIN_NAMES */', () => c.inLoop)
    .replace('/* NFT_CHAIN_WALK */', () => c.after);
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
