#!/usr/bin/python3
"""ct_types.py - where conntrack's struct members sit, from a module's DWARF.

USAGE: python3 ct_types.py DEBUG_FILE STRUCT:MEMBER[,MEMBER...]...
       (the python3 that has drgn: nfscope takes the one in drgn's #! line)

Prints one JSON object a line per struct:
  {"struct": "nf_conn", "size": 248, "members": [{"name": "status",
   "offset": 128, "size": 8, "type": "unsigned long"}], "source": DEBUG_FILE}
or {"error": "..."}.

Why: on kernels without module BTF (CONFIG_DEBUG_INFO_BTF_MODULES, 5.11+; so
Debian's 5.10) with nf_conntrack a module, struct nf_conn is in no BTF, and
bpftrace knows nothing of it. Its layout then comes from the kernel's own debug
info (Debian's linux-image-VERSION-dbg), never from hand-written offsets.
drgn reads the DWARF offline: no running kernel, no /proc/kcore needed.
Only integer and pointer members are asked for: nfscope rewrites each read of
one into a read of that size at that offset (src/kernel/bpf-shape.ts).
"""
import json
import sys

import drgn


def strip(t):
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    return t


def member_type(t, designator):
    """The type of a member designator such as tuplehash[0].tuple.dst.u.all."""
    for part in designator.split("."):
        name, _, rest = part.partition("[")
        t = strip(t).member(name).type
        for _ in range(rest.count("]")):
            t = strip(t).type  # an array's element type
    return t


def main():
    path = sys.argv[1]
    prog = drgn.Program()
    try:
        prog.load_debug_info([path], default=False)
    except Exception as e:  # drgn.MissingDebugInfoError and friends
        print(json.dumps({"error": f"{path}: {e}"}))
        return
    for spec in sys.argv[2:]:
        name, _, members = spec.partition(":")
        try:
            t = prog.type(f"struct {name}")
        except LookupError as e:
            print(json.dumps({"error": f"{path}: {e}"}))
            continue
        out = []
        for m in members.split(","):
            try:
                mt = member_type(t, m)
            except (LookupError, ValueError) as e:
                print(json.dumps({"error": f"struct {name}.{m}: {e}"}))
                return
            real = strip(mt)
            if real.kind not in (drgn.TypeKind.INT, drgn.TypeKind.BOOL, drgn.TypeKind.ENUM, drgn.TypeKind.POINTER):
                print(json.dumps({"error": f"struct {name}.{m} is a {real.kind.name.lower()}, not an integer"}))
                return
            out.append({"name": m, "offset": drgn.offsetof(t, m), "size": drgn.sizeof(mt), "type": real.type_name()})
        print(json.dumps({"struct": name, "size": t.size, "members": out, "source": path}))


main()
