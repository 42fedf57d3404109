/**
 * Which kernel modules a run may unload at its end (issue 26): only those the run itself made
 * appear, and of those only one nothing uses, one at a time. Pure: no I/O.
 *
 * "Made appear by the run" is the modules absent from the snapshot taken first thing that nfscope's
 * own actions load (its rules, tables, conntrack, the sandbox's veth): another program's module
 * loaded meanwhile (br_netfilter by a container runtime) is not in that set and stays. A module
 * that was loaded before is never a candidate, so a dependency that was there before stays too:
 * each module is removed by name alone (rmmod), never with `modprobe -r`, which also takes the
 * dependencies nothing uses any more, whoever loaded them.
 */

/** One line of /proc/modules: "name size refcount holders,|- state address". */
export interface LoadedModule {
  name: string;
  /** Use count; -1 where the kernel cannot count (built without CONFIG_MODULE_UNLOAD: "-"). */
  refs: number;
  /** Modules that depend on this one (the 4th column), each holding a reference. */
  usedBy: string[];
  state: string;
}

/**
 * Modules nfscope's own actions make the kernel load, across the kernels it supports (5.10 to
 * 6.18, legacy and nft iptables): the firewall rules and tables (firewallPlan), conntrack and its
 * netlink (`conntrack -L/-E`), follow's trace table. Not veth, though the sandbox loads it: its
 * devices hold no reference on it (count 0 with veth pairs up), and removing it deletes every veth
 * device of every netns (rtnl_link_unregister), a container runtime's included: it stays loaded.
 */
export const OWN_MODULES: ReadonlySet<string> = new Set([
  'nfnetlink', 'nf_tables', 'nft_ct', 'nft_counter', 'nft_compat', 'nft_chain_filter', 'nft_meta', 'nft_chain_route_ipv4', 'nft_chain_route_ipv6',
  'nf_conntrack', 'nf_defrag_ipv4', 'nf_defrag_ipv6', 'nf_conntrack_netlink',
  // nf_conntrack needs libcrc32c up to 6.13, which asks the crypto API for a crc32c driver (request_module).
  'libcrc32c', 'crc32c_generic', 'crc32c_intel',
  'x_tables', 'ip_tables', 'ip6_tables', 'iptable_filter', 'ip6table_filter', 'xt_conntrack', 'xt_comment', 'xt_tcpudp',
]);

/**
 * The fresh modules of nfscope's that can go now: absent before, loaded now, unused (count 0, no
 * module depending on them) and live. Removing them may free others (a dependency of theirs that was
 * fresh too): the caller asks again after each round, until this is empty.
 */
export function unloadableNow(before: ReadonlySet<string>, now: readonly LoadedModule[], own: ReadonlySet<string> = OWN_MODULES): string[] {
  return now.filter((m) => !before.has(m.name) && own.has(m.name) && m.refs === 0 && m.usedBy.length === 0 && m.state === 'Live').map((m) => m.name);
}

/** The fresh modules still loaded: nfscope's (left because something uses them), and others' (never touched). */
export function freshModules(before: ReadonlySet<string>, now: readonly LoadedModule[], own: ReadonlySet<string> = OWN_MODULES): { ours: string[]; others: string[] } {
  const fresh = now.filter((m) => !before.has(m.name)).map((m) => m.name);
  return { ours: fresh.filter((n) => own.has(n)), others: fresh.filter((n) => !own.has(n)) };
}
