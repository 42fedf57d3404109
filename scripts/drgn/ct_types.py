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
Only integer members are asked for (bpftrace reads them through the struct
nfscope writes from this output).
"""
import json
import sys

import drgn


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
            mt = t.member(m).type
            real = mt
            while real.kind == drgn.TypeKind.TYPEDEF:
                real = real.type
            if real.kind not in (drgn.TypeKind.INT, drgn.TypeKind.BOOL, drgn.TypeKind.ENUM):
                print(json.dumps({"error": f"struct {name}.{m} is a {real.kind.name.lower()}, not an integer"}))
                return
            out.append({"name": m, "offset": drgn.offsetof(t, m), "size": drgn.sizeof(mt), "type": real.type_name()})
        print(json.dumps({"struct": name, "size": t.size, "members": out, "source": path}))


main()
