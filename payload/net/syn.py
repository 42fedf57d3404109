#!/usr/bin/env python3
"""syn.py - send exactly COUNT TCP SYNs to ADDR:PORT, one per connection attempt.

USAGE: python3 syn.py ADDR PORT COUNT [WAIT_MS [PID_FILE]]

Each attempt is a non-blocking connect() closed after WAIT_MS (default 300),
well before the kernel's first SYN retransmission (1 s): one SYN per attempt.
Closing a socket in SYN_SENT sends nothing. Prints one JSON line:
{"sent": COUNT, "connected": N, "refused": N}. Run it inside the client netns.

PID_FILE (a tracefs set_ftrace_pid): this process writes its own pid there
before the first SYN, so function_graph follows the sender, and the softirq
that delivers its SYN over the veth runs in its context.
"""
import errno
import os
import json
import select
import socket
import sys
import time


def main():
    addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    wait = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.3
    if len(sys.argv) > 5:
        with open(sys.argv[5], "w") as f:
            f.write(str(os.getpid()))
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    socks = []
    for _ in range(count):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((addr, port))
        if rc not in (0, errno.EINPROGRESS):
            sys.exit(f"connect: {errno.errorcode.get(rc, rc)}")
        socks.append(s)
    deadline = time.monotonic() + wait
    connected = refused = 0
    pending = list(socks)
    while pending and time.monotonic() < deadline:
        _, w, _ = select.select([], pending, [], max(0.0, deadline - time.monotonic()))
        for s in w:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            connected += err == 0
            refused += err == errno.ECONNREFUSED
            pending.remove(s)
    for s in socks:
        s.close()
    print(json.dumps({"sent": count, "connected": connected, "refused": refused}))


main()
