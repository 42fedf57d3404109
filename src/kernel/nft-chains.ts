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

export const CHAIN_FN = /^nft_do_chain_(ipv4|ipv6|inet|arp|bridge|netdev)$/;
export const NAT_FN = /^nf_nat_ipv[46]_(pre_routing|local_in|out|local_fn|fn|in)$/;
export const NAT_CHAIN_FN = 'nft_nat_do_chain';

export interface ChainSymbols {
  /** Addresses (hex, no 0x) of nft_do_chain_* entry callbacks. */
  chain: string[];
  /** Addresses of nf_nat's hook callbacks whose priv holds the NAT chains. */
  nat: string[];
  /** Address of nft_nat_do_chain (a NAT chain's own callback), if any. */
  natChain: string | null;
}

/** kallsyms lines "ADDR t NAME [module]" → the addresses the fill needs. Pure. */
export function chainSymbols(kallsyms: string): ChainSymbols {
  const out: ChainSymbols = { chain: [], nat: [], natChain: null };
  for (const line of kallsyms.split('\n')) {
    const [addr, type, name] = line.split(/\s+/);
    if (!addr || !name || !/^[0-9a-f]{16}$/.test(addr) || !/^[tT]$/.test(type ?? '') || /^0+$/.test(addr)) continue;
    if (CHAIN_FN.test(name)) out.chain.push(addr);
    else if (NAT_FN.test(name)) out.nat.push(addr);
    else if (name === NAT_CHAIN_FN) out.natChain = addr;
  }
  return out;
}

/**
 * The code that replaces NFT_CHAIN_NAMES (inside the entry loop) and
 * NFT_CHAIN_WALK (after it) in nf_hooks.bt. Pure: addresses in, bpftrace text
 * out. The entry loop only notes which entries are chains or nf_nat's (a map
 * write); the names are read in flat loops after it, their cursors in maps:
 * reading them inside the 18 x 32 entry loop took the verifier past its
 * million instructions (6.18, family mask 31). Which callback is which is one
 * lookup in @fnkind (filled before the loop: 1 chain, 2 nf_nat), not a chain
 * of comparisons per entry: 15% of the listing's time on 6.18 (1.12 -> 0.96 s).
 */
export function chainNamesCode(s: ChainSymbols): { inLoop: string; after: string } {
  const inLoop: string[] = [];
  const after: string[] = [];
  if (s.chain.length || s.nat.length) inLoop.push('$kind = @fnkind[$fn];');
  if (s.chain.length) {
    inLoop.push(`if ($priv != 0 && $kind == 1) {
          @chp[@chn] = $priv; @chw[@chn] = $s * 64 + $i; @chn = @chn + 1;
        }`);
    after.push(`$k = (uint64)0;
  while ($k < 128) {
    if ($k >= @chn) { break; }
    $ch = (struct nft_chain *)@chp[$k];
    printf("T %lu -1 %d %s\\nU %s\\n", @chw[$k], $ch->table->family, str($ch->table->name), str($ch->name));
    $k++;
  }`);
  }
  if (s.nat.length) {
    inLoop.push(`if ($priv != 0 && $kind == 2) {
          @ntp[@ntn] = $priv; @ntw[@ntn] = $s * 64 + $i; @ntn = @ntn + 1;
        }`);
    const named = s.natChain ? `
      if ($np != 0 && $nfn == (uint64)0x${s.natChain}) {
        $nch = (struct nft_chain *)$np;
        printf("T %lu %lu %d %s\\nU %s\\n", @ntw[$j], $x, $nch->table->family, str($nch->table->name), str($nch->name));
      }` : '';
    // One flat loop over (nf_nat entry, its chain): the cursor lives in maps, as in the netdev walk.
    after.push(`@nj = (uint64)0; @nx = (uint64)0;
  $k = (uint64)0;
  while ($k < 128) {
    $j = @nj;
    if ($j >= @ntn) { break; }
    $ne = (uint64)((struct nf_nat_lookup_hook_priv *)@ntp[$j])->entries;
    $nc = (uint64)0;
    if ($ne != 0) { $nc = (uint64)((struct nf_hook_entries *)$ne)->num_hook_entries; }
    $x = @nx;
    if ($x < $nc && $x < 16) {
      $nfn = *(uint64 *)($ne + 8 + $x * 16);
      $np = *(uint64 *)($ne + 8 + $x * 16 + 8);
      printf("n %lu %d %s\\n", @ntw[$j], ((struct nf_hook_ops *)*(uint64 *)($ne + 8 + $nc * 16 + $x * 8))->priority, ksym($nfn));${named}
      @nx = $x + 1;
    } else {
      @nx = 0; @nj = $j + 1;
    }
    $k++;
  }
  clear(@ntp); clear(@ntw); clear(@nj); clear(@nx);`);
  }
  if (s.chain.length) after.push('clear(@chp); clear(@chw); clear(@chn);');
  if (s.nat.length) after.push('clear(@ntn);');
  if (s.chain.length || s.nat.length) after.push('clear(@fnkind);');
  return { inLoop: inLoop.join('\n        '), after: after.join('\n  ') };
}

/** nf_hooks.bt with the chain-naming code filled in. */
export function fillNfHooks(template: string, s: ChainSymbols): string {
  const c = chainNamesCode(s);
  const kinds = [...s.chain.map((a) => `@fnkind[(uint64)0x${a}] = 1;`), ...s.nat.map((a) => `@fnkind[(uint64)0x${a}] = 2;`)];
  const init = [...kinds, s.chain.length ? '@chn = (uint64)0;' : '', s.nat.length ? '@ntn = (uint64)0;' : ''].filter(Boolean).join('\n  ');
  return template
    .replace('/* NFT_CHAIN_INIT */', init)
    .replace('/* NFT_CHAIN_NAMES */', c.inLoop)
    .replace('/* NFT_CHAIN_WALK */', c.after);
}

/**
 * What the target allows: BTF with struct nft_chain (vmlinux, or the
 * nf_tables module's own BTF) and the callbacks' addresses. null with a
 * reason when chains cannot be named on this kernel.
 */
export async function chainProbe(target: Target): Promise<{ symbols: ChainSymbols } | { why: string }> {
  const ks = await target.exec(['grep', '-E', `\\s(${CHAIN_FN.source.slice(1, -1)}|${NAT_FN.source.slice(1, -1)}|${NAT_CHAIN_FN})(\\s|$)`, '/proc/kallsyms']);
  const symbols = chainSymbols(ks.stdout);
  if (symbols.chain.length === 0 && symbols.nat.length === 0) return { why: 'no nf_tables or nf_nat callback in /proc/kallsyms (not loaded, or addresses hidden)' };
  // Where nf_tables is a module, struct nft_chain is in its own BTF (/sys/kernel/btf/nf_tables), which
  // bpftrace 0.17 does not consult for a BEGIN probe: it sees the struct only declared (Debian 6.1 and
  // 6.12; asking with `bpftrace -lv` cost a bpftrace start, tens of seconds under qemu TCG). Built into
  // vmlinux (the 6.18 host), the fields are there. A fill that still fails to compile falls back
  // (backends/hooks.ts).
  // A module's symbols end in [module] in kallsyms. Without module BTF (5.10: CONFIG_DEBUG_INFO_BTF_MODULES
  // came in 5.11) struct nft_chain of a modular nf_tables is in no BTF at all: nothing to compile against.
  const modular = /\[nf_tables\]/.test(ks.stdout);
  if (modular && !(await target.exists('/sys/kernel/btf/nf_tables'))) {
    return { why: 'nf_tables is a module and the kernel has no BTF of it (module BTF came in 5.11): chains are not named here' };
  }
  if (await target.exists('/sys/kernel/btf/nf_tables')) {
    return { why: 'struct nft_chain is in the nf_tables module\'s BTF, which bpftrace does not read from a BEGIN probe (0.17): chains are not named here; `nft list hooks` names them where the kernel has CONFIG_NETFILTER_NETLINK_HOOK' };
  }
  if (!(await target.exists('/sys/kernel/btf/vmlinux'))) return { why: 'no BTF: chains are not named' };
  if (symbols.nat.length && (await target.exists('/sys/kernel/btf/nf_nat'))) symbols.nat = [];
  return { symbols };
}
