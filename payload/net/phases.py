#!/usr/bin/env python3
"""phases.py - one UDP flow (one socket, one source port) sent in phases the caller paces.

USAGE: python3 phases.py ADDR PORT    (inside the client netns)

Prints READY, then for each line N read from stdin sends N datagrams 50 ms apart and prints
"SENT N"; ends at end of input. Between two phases the caller changes the server's ruleset, so
that one flow changes path mid-way (follow's paths mode: test/e2e/guest/follow-cases.sh, `paths`).
"""
import socket
import sys
import time

addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
print("READY", flush=True)
for line in sys.stdin:
    n = int(line)
    for i in range(n):
        if i:
            time.sleep(0.05)
        s.sendto(b"x", (addr, port))
    print(f"SENT {n}", flush=True)
