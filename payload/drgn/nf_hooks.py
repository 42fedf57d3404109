#!/usr/bin/env drgn
"""nf_hooks.py - netfilter hooks of one network namespace, read with drgn.

USAGE: drgn --quiet nf_hooks.py NETNS_INODE|self FAMILY_MASK
       FAMILY_MASK bits: 1 ipv4, 2 ipv6, 4 arp, 8 bridge, 16 netdev

Prints one JSON object a line, per hook in invocation order:
  {"family", "hook" (number), "device" (netdev only), "priority", "callback"}
and, where the entry's priv says what it runs (read by the callback's name, as
nfscope's bpftrace walks do):
  "chain": {"nfproto", "table", "chain"}   nft_do_chain_*, nf_route_table_*: the base chain
  "xtTable": {"af", "name"}                 ipt_do_table and siblings: the struct xt_table
  "bpfProg": {"id", "name"}                 nf_hook_run_bpf: the struct bpf_prog (6.4+)
  "flowtable": {"nfproto", "table", "name"} nf_flow_offload_*_hook: container_of the
                                            struct nf_flowtable in its struct nft_flowtable
  "nested": [entries]                       nf_nat's entry: the NAT chains on its own list
  "unread": "why"                           what was to be read and could not be (a type
                                            missing from the debug info, a bad pointer)
Needs /proc/kcore and the kernel's DWARF (drgn 0.0.22: MissingDebugInfoError
otherwise). Unlike the bpftrace walk it reads any namespace, found by inode.
Layout: struct nf_hook_entries is u16 num_hook_entries, hooks[num], then num
struct nf_hook_ops pointers (nf_hook_entries_get_hook_ops in netfilter.h).
"""
import json
import os
import sys

from drgn import FaultError, cast, container_of
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.net import for_each_net

prog = globals()["prog"]  # provided by the drgn CLI


XT_WALKERS = ("ipt_do_table", "ip6t_do_table", "arpt_do_table")
FLOWTABLE_HOOKS = ("nf_flow_offload_ip_hook", "nf_flow_offload_ipv6_hook", "nf_flow_offload_inet_hook")


def base(sym):
    """A compiler clone's suffix (.isra.0, .constprop.0) left out."""
    return sym.split(".")[0]


def named(sym, priv):
    """What an entry runs, from its priv, by its callback (the kernel sets priv so: see each)."""
    b = base(sym)
    if b.startswith("nft_do_chain") or b.startswith("nf_route_table_") or b == "nft_nat_do_chain":
        # nf_tables_register_hook: ops->priv = the chain.
        c = cast("struct nft_chain *", priv)
        return {"chain": {"nfproto": c.table.family.value_(), "table": c.table.name.string_().decode(),
                          "chain": c.name.string_().decode()}}
    if b in XT_WALKERS:
        # xt_hook_ops_alloc / ipt_register_table: ops[i].priv = the table.
        t = cast("struct xt_table *", priv)
        return {"xtTable": {"af": t.af.value_(), "name": t.name.string_().decode()}}
    if b == "nf_hook_run_bpf":
        # bpf_nf_link_attach: the hook's priv is the program.
        p = cast("struct bpf_prog *", priv)
        return {"bpfProg": {"id": p.aux.id.value_(), "name": p.aux.name.string_().decode()}}
    if b in FLOWTABLE_HOOKS:
        # nft_register_flowtable_net_hooks: ops.priv = &flowtable->data.
        f = container_of(cast("struct nf_flowtable *", priv), "struct nft_flowtable", "data")
        return {"flowtable": {"nfproto": f.table.family.value_(), "table": f.table.name.string_().decode(),
                              "name": f.name.string_().decode()}}
    if b.startswith("nf_nat_ipv"):
        # nf_nat_register_fn: one struct nf_nat_lookup_hook_priv a hook, its own entries the NAT chains.
        return {"nested": list(entries(cast("struct nf_nat_lookup_hook_priv *", priv).entries.read_()))}
    return {}


def entries(e):
    if not e:
        return
    n = e.num_hook_entries.value_()
    ops = cast("struct nf_hook_ops **", e.hooks[n].address_of_())
    for i in range(n):
        fn = e.hooks[i].hook.value_()
        try:
            sym = prog.symbol(fn).name
        except LookupError:
            sym = hex(fn)
        entry = {"priority": ops[i].priority.value_(), "callback": sym}
        try:
            entry.update(named(sym, e.hooks[i].priv))
        except (LookupError, FaultError, ValueError, AttributeError, TypeError) as err:
            # A type or member not in the debug info (a module's, another version's), or memory that
            # cannot be read: said, not guessed.
            entry["unread"] = f"{type(err).__name__}: {err}"
        yield entry


def emit(family, hook, e, device=None):
    for entry in entries(e):
        print(json.dumps({"family": family, "hook": hook, "device": device, **entry}))


def main():
    which, mask = sys.argv[1], int(sys.argv[2])
    inode = os.stat("/proc/self/ns/net").st_ino if which == "self" else int(which)
    net = next((n for n in for_each_net(prog) if n.ns.inum.value_() == inode), None)
    if net is None:
        sys.exit(f"no network namespace with inode {inode}")
    nf = net.nf
    for bit, family, attr, count in ((1, "ipv4", "hooks_ipv4", 5), (2, "ipv6", "hooks_ipv6", 5),
                                     (4, "arp", "hooks_arp", 3), (8, "bridge", "hooks_bridge", 5)):
        if mask & bit and hasattr(nf, attr):
            for h in range(count):
                emit(family, h, getattr(nf, attr)[h].read_())
    if mask & 16:
        # drgn 0.0.22 has no for_each_netdev: walk net->dev_base_head.
        for dev in list_for_each_entry("struct net_device", net.dev_base_head.address_of_(), "dev_list"):
            name = dev.name.string_().decode()
            for h, attr in ((0, "nf_hooks_ingress"), (1, "nf_hooks_egress")):
                try:
                    e = getattr(dev, attr).read_()
                except AttributeError:  # egress hooks are 5.16+
                    continue
                emit("netdev", h, e, name)


main()
