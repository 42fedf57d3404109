#!/usr/bin/env drgn
"""nf_hooks.py - netfilter hooks of one network namespace, read with drgn.

USAGE: drgn --quiet nf_hooks.py NETNS_INODE|self FAMILY_MASK
       FAMILY_MASK bits: 1 ipv4, 2 ipv6, 4 arp, 8 bridge, 16 netdev

Prints one JSON object a line, per hook in invocation order:
  {"family", "hook" (number), "device" (netdev only), "priority", "callback"}
Needs /proc/kcore and the kernel's DWARF (drgn 0.0.22: MissingDebugInfoError
otherwise). Unlike the bpftrace walk it reads any namespace, found by inode.
Layout: struct nf_hook_entries is u16 num_hook_entries, hooks[num], then num
struct nf_hook_ops pointers (nf_hook_entries_get_hook_ops in netfilter.h).
"""
import json
import os
import sys

from drgn import cast
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.net import for_each_net

prog = globals()["prog"]  # provided by the drgn CLI


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
        yield ops[i].priority.value_(), sym


def emit(family, hook, e, device=None):
    for prio, sym in entries(e):
        print(json.dumps({"family": family, "hook": hook, "device": device,
                          "priority": prio, "callback": sym}))


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
