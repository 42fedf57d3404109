import type { HookEntry, Owner } from './hooks.js';

/**
 * Who registered a hook, from the callback's symbol. Names across kernel
 * versions (see shared/docs/experiment.md):
 *  - confirm: ipv4_confirm/ipv6_confirm up to 6.1, nf_confirm from 6.2;
 *  - iptables: iptable_*_hook up to 5.15, ipt_do_table from 5.16;
 *  - NAT: nf_nat_ipv4_in/_fn/… up to 5.11, nf_nat_ipv4_pre_routing/… from 5.12.
 * A compiler clone suffix (".isra.0", ".constprop.0") is ignored.
 */
const RULES: [RegExp, Owner][] = [
  [/^(ipv[46]_conntrack_(in|local)|ipv[46]_confirm|nf_confirm|ipv[46]_helper|nf_ct_bridge_(pre|post|in)|nf_conntrack_in)$/, 'conntrack'],
  [/^(ipv4_conntrack_defrag|ipv6_defrag|nf_ct_bridge_defrag|.*_defrag)$/, 'defrag'],
  [/^(nf_nat_|nft_nat|ipt_nat|iptable_nat)/, 'nat'],
  // nft_do_chain_*: filter and nat chains; nf_route_table_hook4/6 and _inet: `type route` chains (nft_chain_route.c).
  [/^(nft_do_chain|nf_route_table_(hook|inet))/, 'nftables'],
  [/^(ipt_do_table|iptable_\w+_hook)$/, 'iptables'],
  [/^(ip6t_do_table|ip6table_\w+_hook)$/, 'ip6tables'],
  [/^(arpt_do_table|arptable_\w+_hook)$/, 'arptables'],
  [/^(ebt_\w+|ebt_do_table)$/, 'ebtables'],
  [/^selinux_/, 'selinux'],
  [/^apparmor_/, 'apparmor'],
  [/^smack_/, 'smack'],
  [/^(nf_hook_run_bpf|bpf_nf_)/, 'bpf'],
  // br_netfilter's own, and ip_sabotage_in (br_netfilter_hooks.c: ipv4 and ipv6 PRE_ROUTING at
  // NF_IP_PRI_FIRST, so that a packet br_netfilter re-injects does not run the IP hooks twice).
  [/^(br_nf_|ip_sabotage_in$)/, 'br_netfilter'],
  [/^ip_vs_/, 'ipvs'],
  [/^ipv[46]_synproxy_hook$/, 'synproxy'],
  [/^nf_flow_offload_/, 'flowtable'],
];

/**
 * iptables-legacy's own callbacks, per save tool: ipt_do_table from 5.16, iptable_*_hook before,
 * and before 5.16 the NAT table's iptable_nat_do_chain behind nf_nat's entry. iptables-nft's
 * rules run in nft_do_chain_* instead.
 */
export const LEGACY_CALLBACKS = {
  'iptables-legacy': /^(ipt_do_table|iptable_\w+_hook|iptable_nat_do_chain)/,
  'ip6tables-legacy': /^(ip6t_do_table|ip6table_\w+_hook|ip6table_nat_do_chain)/,
} as const;
/** Any legacy backend's callback, arptables and ebtables included. */
export const LEGACY_CB = new RegExp(`${LEGACY_CALLBACKS['iptables-legacy'].source}|${LEGACY_CALLBACKS['ip6tables-legacy'].source}|^(arpt_do_table|ebt_do_table|arptable_\\w+_hook|ebt_\\w+_hook)`);

export function baseSymbol(sym: string): string {
  return sym.replace(/\.(isra|constprop|part|cold|llvm)\.\d+.*$/, '');
}

export function classify(callback: string, priority: number): HookEntry {
  const base = baseSymbol(callback);
  let owner: Owner = 'unknown';
  for (const [re, o] of RULES) {
    if (re.test(base)) {
      owner = o;
      break;
    }
  }
  return { priority, callback, owner, conntrack: owner === 'conntrack' };
}
