#!/usr/bin/env python3
"""hooks-request.py - ask nfscope's hook listing server for the hooks of this netns.

USAGE: ip netns exec NAME python3 hooks-request.py ID FAMILY_MASK

Makes prctl(0x4e46484b, ID, FAMILY_MASK, 0, 0). The kernel refuses the
unknown option (EINVAL) and nothing changes; the server, a bpftrace program
on tracepoint:syscalls:sys_enter_prctl (src/kernel/hook-server-program.ts),
sees the call and prints the hooks of the caller's netns framed by "B ID" and
"Z ID". Only root's requests are served. Prints nothing; exit 0.
"""
import ctypes
import sys

OPTION = 0x4E46484B


def main() -> int:
    if len(sys.argv) != 3 or not sys.argv[1].isdigit() or not sys.argv[2].isdigit():
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    ul = ctypes.c_ulong
    libc.prctl(ctypes.c_int(OPTION), ul(int(sys.argv[1])), ul(int(sys.argv[2])), ul(0), ul(0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
