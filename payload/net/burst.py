#!/usr/bin/env python3
"""burst.py - drive TCP traffic as fast as one process can, and time it.

USAGE: python3 burst.py syn ADDR PORT COUNT      COUNT SYNs (connect, close at once)
       python3 burst.py connect ADDR PORT COUNT  COUNT full connections (connect, close)
Prints {"mode", "count", "seconds", "rate"} as JSON. Run it inside the client
netns; the server is in the sandbox's server netns: loopback-like, never routed.
"""
import json
import socket
import sys
import time


def main():
    mode, addr, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    t0 = time.perf_counter()
    for _ in range(count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if mode == "syn":
            s.setblocking(False)
            s.connect_ex((addr, port))  # the SYN leaves now; closing in SYN_SENT sends nothing
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close: no TIME_WAIT pile-up
            s.connect((addr, port))
        s.close()
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "count": count, "seconds": dt, "rate": count / dt}))


main()
