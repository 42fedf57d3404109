#!/usr/bin/env python3
"""hooks-request.py - ask nfscope's hook listing server for the hooks of this netns.

USAGE: ip netns exec NAME python3 hooks-request.py ID

ID is 10 digits: the server's token (5), then the request's own (5); a server
answers its own token only. Renames this process "nfshk" + ID (prctl PR_SET_NAME), then
calls prctl(PR_GET_NAME): the server, a bpftrace program on
tracepoint:syscalls:sys_enter_prctl (src/programs/nf_hooks_server.ts),
sees a call by a task of that name and prints the hooks of the caller's netns
framed by "B nfshkID" and "Z nfshkID". Only root's requests are served. Both
calls only touch this process's own name. Prints nothing; exit 0.
"""
import ctypes
import os
import sys

PR_SET_NAME = 15
PR_GET_NAME = 16


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or len(sys.argv[1]) != 10:
        print("usage: hooks-request.py ID (10 digits)", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    name = ctypes.create_string_buffer(("nfshk" + sys.argv[1]).encode())
    if libc.prctl(PR_SET_NAME, name, 0, 0, 0) != 0:
        print(f"prctl(PR_SET_NAME): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    buf = ctypes.create_string_buffer(16)
    libc.prctl(PR_GET_NAME, buf, 0, 0, 0)
    sys.stdout.flush()
    # No interpreter shutdown: nothing after the request may look like another one.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
