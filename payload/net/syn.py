#!/usr/bin/env python3
"""syn.py - send exactly COUNT TCP SYNs to ADDR:PORT, one per connection attempt.

USAGE: python3 syn.py ADDR PORT COUNT [WAIT_MS [PID_FILE]]

Each attempt is a non-blocking connect() closed after WAIT_MS (default 300),
well before the kernel's first SYN retransmission (1 s): one SYN per attempt.
Closing a socket in SYN_SENT sends nothing. Prints one JSON line:
{"sent": COUNT, "connected": N, "refused": N}. Run it inside the client netns.

PID_FILE (a tracefs set_ftrace_pid): this process writes its own pid there
before the first SYN, so function_graph follows the sender: the softirq that
delivers its SYN over the veth runs in its context, or, when the kernel defers
it, in ksoftirqd of the same CPU (a loaded 5.10 guest did: no call tree). So the
sender stays on one CPU and that CPU's ksoftirqd is traced too.
"""
import errno
import os
import json
import select
import socket
import sys
import time


def trace_me(path):
    """Pins this process to one CPU and writes its pid and that CPU's ksoftirqd's to PATH."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    pids = [os.getpid()]
    want = "ksoftirqd/%d" % cpu
    for d in sorted((d for d in os.listdir("/proc") if d.isdigit()), key=int):
        try:
            with open("/proc/%s/comm" % d) as c:
                if c.read().strip() == want:
                    pids.append(int(d))
                    break
        except OSError:
            pass  # a process that ended while listed
    # Added to the list, never truncated: O_TRUNC would clear the pid filter, and every task would
    # be traced until the write lands. The placeholder nfscope put there is a pid nobody has.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, " ".join(str(p) for p in pids).encode())
    finally:
        os.close(fd)


def main():
    addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    wait = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.3
    if len(sys.argv) > 5:
        trace_me(sys.argv[5])
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
