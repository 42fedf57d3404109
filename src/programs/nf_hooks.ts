/**
 * bpf/nf_hooks.bt, filled and cut for a listing. Pure: template text and the
 * run's values in, program texts and their parameters out; each cut checks its
 * anchors and fails loudly when the template changed shape.
 *
 * Naming nf_tables chains: a hook entry whose callback is nft_do_chain_<family>
 * has the chain as its priv pointer (nf_tables_register_hook: ops->priv =
 * chain); nf_nat's entries (5.12+: nf_nat_ipv4_pre_routing and siblings) have a
 * struct nf_nat_lookup_hook_priv whose own nf_hook_entries hold the NAT chains
 * (nft_nat_do_chain, priv = the chain). What the kernel allows (BTF of struct
 * nft_chain, the callbacks' addresses) is read by kernel/nft-chains.ts.
 *
 * The netdev walk (devices' ingress and egress hooks) and the walk of the 18
 * family hook slots are independent, and each is about half of what bpftrace
 * compiles and the verifier checks (6.18: 172k and 144k instructions). As two
 * programs they compile side by side on two CPUs: `hooks --family all` took
 * 0.14 s less (issue 14).
 */
import type { ChainSymbols } from '../model/hooks.js';
import { adaptProgram, lowerStructAccesses, membersRead, type BpfShape } from './adapt.js';
import type { StructLayout } from '../parsers/struct-layout.js';
import type { BpfProgram } from './program.js';

/**
 * Each entry's priv is read as a chain with no test (see chainNamesCode), so for any other entry
 * (nf_nat's, x_tables', conntrack's) what is read as the table and the names is any word of the
 * kernel's memory, and it is then read as an address. bpf_probe_read_kernel refuses a user or
 * non-canonical address before touching it (arch/x86/mm/maccess.c), by the CPU's virtual address
 * width. Where that width is 57 bits but the kernel pages with 4 levels (qemu's `-cpu max`; a
 * cloud VM like this machine, "57 bits virtual" without la57), an address such as
 * 0x000fffffc0000000 passes that check, the read takes a general protection fault, and 6.1 warns
 * ("Non-canonical address?", ex_handler_uaccess) and taints the kernel (W): seen in the micro-VM
 * listing hooks behind nf_nat and x_tables entries. So such a word is kept only when it is in the
 * kernel's top 2^47 bytes (bits 47-63 set), where every kmalloc'd chain, table and name is under
 * 4-level paging; otherwise it is read as 0, which the kernel refuses quietly. Pure arithmetic,
 * no branch: a test per entry costs the verifier (chainNamesCode). Where the running task's own
 * struct (a slab object, where chains, tables and their names are allocated too) is not in that
 * range ($anyhalf, set by CHAIN_INIT: 5-level paging's direct map at 0xff11…, where the CPU's width
 * is the kernel's; arm64's linear map below 0xffff8000…) words are read as they are. Not struct
 * net: the first namespace's, init_net, is static, in the kernel image at 0xffffffff8… whatever
 * the paging, and would have turned the mask on where it zeroes every chain.
 */
export function kernelHalfOnly(v: string): string {
  return `${v} = ${v} & (0 - ((((${v} >> 47) & 0x1ffff) + 1) >> 17 | $anyhalf));`;
}

/** CHAIN_INIT: whether the running task's struct is outside the top 2^47 bytes (1), which turns kernelHalfOnly off. */
export const CHAIN_INIT = '$anyhalf = 1 - (((((uint64)curtask >> 47) & 0x1ffff) + 1) >> 17);';

/**
 * A C record: entry <where>/<sub> read as a chain, its names as raw words (see nf_hooks.bt); with
 * `where` null, a c record, which names the netdev entry (D) printed just before it.
 */
function chainRecord(where: string | null, sub: string, chain: string): string {
  const words = (p: string) => [0, 8, 16, 24].map((o) => `*(uint64 *)(${p}${o ? ` + ${o}` : ''})`).join(', ');
  const head = where === null ? 'c' : `C %lu ${sub === '-1' ? '-1' : '%lu'}`;
  const args = where === null ? '' : ` ${where},${sub === '-1' ? '' : ` ${sub},`}`;
  return `$ct = (uint64)((struct nft_chain *)${chain})->table;
        ${kernelHalfOnly('$ct')}
        $tn = (uint64)((struct nft_table *)$ct)->name;
        ${kernelHalfOnly('$tn')}
        $cn = (uint64)((struct nft_chain *)${chain})->name;
        ${kernelHalfOnly('$cn')}
        printf("${head} %d %lx %lx %lx %lx %lx %lx %lx %lx\\n",${args} ((struct nft_table *)$ct)->family,
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
export function chainNamesCode(s: ChainSymbols): { init: string; inLoop: string; after: string; netdev: string } {
  const inLoop: string[] = [];
  const after: string[] = [];
  if (s.chain.length) inLoop.push(chainRecord('$s * 64 + $i', '-1', '$priv'));
  // A netdev base chain (ingress, egress) is an entry on its device's list, priv the chain as on
  // any hook: read as the slot walk reads each entry, and kept by the parser only for a chain's callback.
  const netdev = s.chain.length ? chainRecord(null, '-1', '*(uint64 *)($e + 8 + $i * 16 + 8)') : '';
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
  // The chain records need $anyhalf; nf_nat's walk alone reads only real pointers (the nat entries' priv).
  const init = s.chain.length || s.natChain ? CHAIN_INIT : '';
  return { init, inLoop: inLoop.join('\n        '), after: after.join('\n  '), netdev };
}

/** nf_hooks.bt's NFT_CHAIN_* markers filled (each empty where not given). */
function fillMarkers(template: string, m: { init?: string; inLoop?: string; after?: string; netdev?: string }): string {
  return template
    .replace('/* NFT_CHAIN_INIT */', () => m.init ?? '')
    .replace('/* NFT_CHAIN_NAMES */', () => m.inLoop ?? '')
    .replace('/* NFT_CHAIN_WALK */', () => m.after ?? '')
    .replace('/* NFT_CHAIN_NAMES_NETDEV */', () => m.netdev ?? '');
}

/**
 * nf_hooks.bt with the chain-naming code filled in. `layouts`: the structs of that code which are in
 * a module's BTF (nft_chain and nft_table where nf_tables is a module, nf_nat_lookup_hook_priv where
 * nf_nat is), laid out by nfscope (kernel/nft-chains.ts): bpftrace 0.17 does not read module BTF from
 * a BEGIN probe, so those reads are lowered to reads at the BTF's offsets.
 */
export function fillNfHooks(template: string, s: ChainSymbols, layouts: readonly StructLayout[] = []): string {
  const filled = fillMarkers(template, chainNamesCode(s));
  return layouts.length ? lowerStructAccesses(filled, [...layouts]) : filled;
}

/** An address no kernel has, to make the chain code whole for structMembers below. */
const ANY = 'ffffffffffffffff';

/**
 * The members the chain-naming code reads of each struct it names (nft_chain, nft_table,
 * nf_nat_lookup_hook_priv; nf_hook_entries and nf_hook_ops as the listing itself does), taken from
 * the code itself: what kernel/nft-chains.ts lays out where a struct is in a module's BTF.
 */
export function chainCodeMembers(): Map<string, string[]> {
  const code = chainNamesCode({ chain: [ANY], nat4: [ANY], nat6: [ANY], natChain: ANY });
  const text = [code.inLoop, code.after, code.netdev].join('\n');
  return membersRead(text);
}

export class TemplateError extends Error {}

const NETDEV_START = '  if (($mask & 16) != 0) {\n';
const SLOTS_START = '  $s = (uint64)0;\n  while ($s < 18) {\n';

function netdevBlock(p: string): [number, number] {
  const start = p.indexOf(NETDEV_START);
  const end = p.indexOf('\n  }\n', start);
  if (start < 0 || end < 0 || p.indexOf(NETDEV_START, start + 1) >= 0) throw new TemplateError('nf_hooks.bt: the netdev walk is not where expected');
  return [start, end + 5];
}

/** The program without its netdev walk. */
export function withoutNetdev(p: string): string {
  const [start, end] = netdevBlock(p);
  return p.slice(0, start) + p.slice(end);
}

/** The program with only its netdev walk (and the N record before it). */
export function netdevOnly(p: string): string {
  const [start] = netdevBlock(p);
  const slots = p.indexOf(SLOTS_START);
  if (slots < 0 || slots > start || p.indexOf(SLOTS_START, slots + 1) >= 0) throw new TemplateError('nf_hooks.bt: the hook slot walk is not where expected');
  return p.slice(0, slots) + p.slice(start);
}

/**
 * The programs that list the families of `mask` (nf_hooks.bt's $1), each with its own mask as its
 * parameter: one, or the slot walk and the netdev walk apart when the mask asks for both.
 */
export function listingPrograms(p: string, mask: number): BpfProgram[] {
  const part = (text: string, m: number): BpfProgram => ({ text, params: [String(m)] });
  if ((mask & 16) === 0) return [part(withoutNetdev(p), mask)];
  if ((mask & 15) === 0) return [part(netdevOnly(p), mask)];
  return [part(withoutNetdev(p), mask & 15), part(netdevOnly(p), 16)];
}

/**
 * The listing of the families of `mask`: chain names filled where the kernel gave their
 * addresses (null: none), adapted to the kernel's shape, then cut (listingPrograms); each
 * part's one parameter is its family mask ($1).
 */
export function nfHooksPrograms(template: string, v: { symbols: ChainSymbols | null; layouts?: readonly StructLayout[]; mask: number; shape: BpfShape }): BpfProgram[] {
  return listingPrograms(adaptProgram(v.symbols ? fillNfHooks(template, v.symbols, v.layouts) : template, v.shape), v.mask);
}

/**
 * A second walk of the family hook slots (`mask` of nf_hooks.bt's first four families): for an
 * entry whose callback is one of `callbacks` (their addresses, from kallsyms), `record` prints what
 * its priv points to. Apart from the listing, run only where the listing has such an entry, so that
 * the listing itself pays nothing where there is none.
 */
function secondWalk(template: string, v: { mask: number; shape: BpfShape; callbacks: readonly string[] }, what: string, record: string): BpfProgram {
  if (!v.callbacks.length || !v.callbacks.every((a) => /^[0-9a-f]{16}$/.test(a))) throw new TemplateError(`${what}: the callbacks' addresses are 16 hex digits, and there is one at least`);
  const test = v.callbacks.map((a) => `$fn == (uint64)0x${a}`).join(' || ');
  return listingPrograms(adaptProgram(fillMarkers(template, { inLoop: `if (${test}) {\n          ${record}\n        }` }), v.shape), v.mask & 15)[0]!;
}

/**
 * The x_tables walk, run only where the listing has x_tables entries (ipt_do_table and its
 * siblings, 5.16+): each such entry's priv read as the struct xt_table it is, its family and name
 * (an inline char[32], so only a real table's name is ever read as a string), as an X record with
 * the entry's position and callback. The parser keeps a name only for an entry of the first
 * listing at the same position with the same callback, and a table of the callback's family.
 */
export function xtNamesProgram(template: string, v: { mask: number; shape: BpfShape; walkers: readonly string[]; layouts?: readonly StructLayout[] }): BpfProgram {
  const p = secondWalk(template, { mask: v.mask & 7, shape: v.shape, callbacks: v.walkers }, 'xtNamesProgram', XT_RECORD);
  // Where x_tables is a module (Debian's kernels) struct xt_table is in its BTF only: read raw there.
  return v.layouts?.length ? { ...p, text: lowerStructAccesses(p.text, [...v.layouts]) } : p;
}

const XT_RECORD = 'printf("X %lu %s %d %s\\n", $s * 64 + $i, ksym($fn), ((struct xt_table *)$priv)->af, ((struct xt_table *)$priv)->name);';

/** The members the x_tables walk reads of struct xt_table: what kernel/module-btf.ts lays out where x_tables is a module. */
export function xtCodeMembers(): Map<string, string[]> {
  return membersRead(XT_RECORD);
}

/**
 * The BPF walk, run only where the listing has an nf_hook_run_bpf entry (a BPF netfilter link,
 * 6.4+; bpf_nf_link_attach sets the hook's priv to the program): the program's id and name
 * (bpf_prog_aux: an id from the kernel's IDR, an inline char[16]) as a P record with the entry's
 * position and callback. IPv4 and IPv6 only: the link takes no other family.
 */
export function bpfProgsProgram(template: string, v: { mask: number; shape: BpfShape; runner: string }): BpfProgram {
  return secondWalk(template, { mask: v.mask & 3, shape: v.shape, callbacks: [v.runner] }, 'bpfProgsProgram',
    'printf("P %lu %s %u %s\\n", $s * 64 + $i, ksym($fn), ((struct bpf_prog *)$priv)->aux->id, ((struct bpf_prog *)$priv)->aux->name);');
}

/**
 * The flowtable walk, run only where the listing has a flowtable's entry on a device (an
 * nf_flow_offload_*_hook callback): the netdev walk alone, each such entry's priv taken back to its
 * struct nft_flowtable (priv is &flowtable->data: `dataOffset` is that member's offset, from the
 * kernel's BTF, as container_of would), its table's family and name and its own name as an F
 * record right after the entry's D record. `layouts`: those structs where nf_tables is a module.
 */
export function flowtablesProgram(template: string, v: { shape: BpfShape; hooks: readonly string[]; dataOffset: number; layouts?: readonly StructLayout[] }): BpfProgram {
  if (!v.hooks.length || !v.hooks.every((a) => /^[0-9a-f]{16}$/.test(a))) throw new TemplateError('flowtablesProgram: the callbacks\' addresses are 16 hex digits, and there is one at least');
  if (!Number.isInteger(v.dataOffset) || v.dataOffset <= 0 || v.dataOffset > 65536) throw new TemplateError(`flowtablesProgram: ${v.dataOffset} is no offset of struct nft_flowtable's data`);
  const test = v.hooks.map((a) => `*(uint64 *)($e + 8 + $i * 16) == (uint64)0x${a}`).join(' || ');
  const filled = fillMarkers(template, { netdev: `if (${test}) {
          ${flowtableRecord(v.dataOffset)}
        }` });
  const p = listingPrograms(adaptProgram(filled, v.shape), 16)[0]!;
  return v.layouts?.length ? { ...p, text: lowerStructAccesses(p.text, [...v.layouts]) } : p;
}

function flowtableRecord(dataOffset: number): string {
  return `$ft = *(uint64 *)($e + 8 + $i * 16 + 8) - ${dataOffset};
          $fb = (uint64)((struct nft_flowtable *)$ft)->table;
          $fm = (uint64)((struct nft_flowtable *)$ft)->name;
          $fk = (uint64)((struct nft_table *)$fb)->name;
          printf("F %d %s %s\\n", ((struct nft_table *)$fb)->family, str($fk), str($fm));`;
}

/** The members the flowtable walk reads: what kernel/nft-chains.ts lays out where nf_tables is a module. */
export function flowtableCodeMembers(): Map<string, string[]> {
  return membersRead(flowtableRecord(1));
}
