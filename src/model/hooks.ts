/** The hooks report: one model, rendered as a table or as JSON. */

export const HOOKS_SCHEMA_VERSION = 1;

/** The families nfscope's experiments run on. */
export type IpFamily = 'ipv4' | 'ipv6';

/** NF_IP_PRI_LAST (include/uapi/linux/netfilter_ipv4.h): where conntrack's confirm runs. */
export const NF_PRI_LAST = 2147483647;

export const FAMILIES = ['ipv4', 'ipv6', 'arp', 'bridge', 'netdev'] as const;
export type Family = (typeof FAMILIES)[number];

/** Hook names per family, in the kernel's enum order (nf_inet_hooks, NF_ARP_*, nf_dev_hooks). */
export const HOOK_NAMES: Record<Family, readonly string[]> = {
  ipv4: ['PRE_ROUTING', 'LOCAL_IN', 'FORWARD', 'LOCAL_OUT', 'POST_ROUTING'],
  ipv6: ['PRE_ROUTING', 'LOCAL_IN', 'FORWARD', 'LOCAL_OUT', 'POST_ROUTING'],
  arp: ['IN', 'OUT', 'FORWARD'],
  bridge: ['PRE_ROUTING', 'LOCAL_IN', 'FORWARD', 'LOCAL_OUT', 'POST_ROUTING'],
  netdev: ['INGRESS', 'EGRESS'],
};

export type Owner =
  | 'conntrack' | 'defrag' | 'nat' | 'nftables' | 'iptables' | 'ip6tables' | 'arptables'
  | 'ebtables' | 'selinux' | 'apparmor' | 'smack' | 'bpf' | 'br_netfilter' | 'ipvs'
  | 'synproxy' | 'flowtable' | 'unknown';

/** An nf_tables chain, as nft names it: `nft list chain FAMILY TABLE NAME` (iptables-nft: ip filter INPUT). */
export interface ChainName {
  family: 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev' | `nfproto ${number}`;
  table: string;
  chain: string;
}

/** Callbacks whose priv is an nf_tables chain: a base chain's (nf_tables_register_hook). */
export const CHAIN_FN = /^nft_do_chain_(ipv4|ipv6|inet|arp|bridge|netdev)$/;
/**
 * A `type route` chain's callback (net/netfilter/nft_chain_route.c: ip, ip6 and inet): its priv is the chain too
 * (nft_basechain_init sets ops.priv for every base chain), and it runs the chain through
 * nft_do_chain, then reroutes a packet whose mark or addresses changed.
 */
export const ROUTE_FN = /^nf_route_table_(hook[46]|inet)$/;
/**
 * x_tables' table walkers (5.16+; before, each table had its own iptable_<name>_hook): their priv
 * is the struct xt_table they run (ipt_register_table sets ops[i].priv), whose af is the family.
 */
export const XT_TABLE_FN: Readonly<Record<string, number>> = { ipt_do_table: 2, ip6t_do_table: 10, arpt_do_table: 3 };
/** A BPF netfilter link's callback (net/netfilter/nf_bpf_link.c, 6.4+): its priv is the struct bpf_prog. */
export const BPF_RUN_FN = 'nf_hook_run_bpf';
/**
 * An nf_tables flowtable's hook on a device's ingress (nf_flow_table_{ip,inet}.c, nf_flow_offload_
 * *_hook): its priv is the flowtable's struct nf_flowtable, the `data` member of struct
 * nft_flowtable (nft_register_flowtable_net_hooks: ops.priv = &flowtable->data).
 */
export const FLOWTABLE_FNS = ['nf_flow_offload_ip_hook', 'nf_flow_offload_ipv6_hook', 'nf_flow_offload_inet_hook'] as const;
export const runsFlowtable = (callback: string): boolean => (FLOWTABLE_FNS as readonly string[]).includes(callback);
/** The NFPROTO family of an x_tables table walker's table, or undefined for any other callback. */
export const xtFamily = (callback: string): number | undefined => (Object.hasOwn(XT_TABLE_FN, callback) ? XT_TABLE_FN[callback] : undefined);
/** Whether a callback's priv is an nf_tables base chain, so the chain can be named from it. */
export const runsChain = (callback: string): boolean => CHAIN_FN.test(callback) || ROUTE_FN.test(callback);
/** nf_nat's own hook callbacks (5.12+): the NAT chains sit behind them, on nf_nat's list. */
export const NAT_FN = /^nf_nat_ipv([46])_(pre_routing|local_in|out|local_fn|fn|in)$/;
/** A NAT chain's callback on nf_nat's list; its priv is the chain. */
export const NAT_CHAIN_FN = 'nft_nat_do_chain';

/** nft's hook words → the kernel's hook names as HOOK_NAMES spells them. */
export const NFT_HOOK: Readonly<Record<string, string>> = {
  prerouting: 'PRE_ROUTING', input: 'LOCAL_IN', forward: 'FORWARD', output: 'LOCAL_OUT', postrouting: 'POST_ROUTING', ingress: 'INGRESS', egress: 'EGRESS',
};

export function nftFamily(nfproto: number): ChainName['family'] {
  return ({ 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' } as Record<number, ChainName['family']>)[nfproto] ?? `nfproto ${nfproto}`;
}

export interface HookEntry {
  priority: number;
  callback: string;
  owner: Owner;
  conntrack: boolean;
  /** The nf_tables chain behind an nft_do_chain_* entry (or a NAT chain), where the backend can read it. */
  chain?: ChainName;
  /** The x_tables table (iptables-legacy, ip6tables-legacy, arptables) an ipt_do_table-style entry runs, where the backend can read it. */
  xtTable?: string;
  /** The BPF program an nf_hook_run_bpf entry runs (a BPF netfilter link, 6.4+): its id (`bpftool prog show id N`) and name, where the backend can read them. */
  bpfProg?: { id: number; name: string };
  /** The nf_tables flowtable an nf_flow_offload_*_hook entry serves (a device's ingress): its table's family and name, and its own name, where the backend can read them. */
  flowtable?: { family: ChainName['family']; table: string; name: string };
  /**
   * Entries run by this one, in order: the NAT chains behind nf_nat's entry
   * (5.12+: nf_nat_ipv4_pre_routing and siblings keep their own list).
   */
  nested?: HookEntry[];
}

export interface HookList {
  family: Family;
  hook: string;
  device?: string;
  entries: HookEntry[];
  /** Set when the backend could not list every entry (bpftrace loop bounds). */
  truncated?: { listed: number; total: number };
}

export interface HooksReport {
  schemaVersion: number;
  kernel: string;
  netns: string;
  backend: Backend;
  /** The families listed (--family); absent in listings saved before it was recorded. */
  families?: Family[];
  hooks: HookList[];
  warnings: string[];
}

/** `nfscope hooks --all-netns --json`: one report per namespace. */
export interface HooksAllReport {
  schemaVersion: number;
  reports: HooksReport[];
}

export const BACKENDS = ['bpftrace', 'drgn', 'nft'] as const;
export type Backend = (typeof BACKENDS)[number];

/** The addresses (from /proc/kallsyms) nf_hooks.bt's chain naming is filled with (kernel/nft-chains.ts reads them, programs/nf_hooks.ts fills them in). */
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
