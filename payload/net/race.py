#!/usr/bin/env python3
"""race.py - UDP flows whose two datagrams leave at the same moment from two CPUs.

USAGE: python3 race.py ADDR PORT FLOWS one|two     (inside the client netns)

one: each flow is one socket (one source port); two processes, each pinned to its own CPU, send one
     datagram of it at the same moment: glibc's A and AAAA queries from one socket. Both datagrams
     can reach conntrack before either's entry is confirmed: the insert race.
two: the same, but each process sends from a socket of its own (two flows): resolv.conf's
     single-request-reopen; there is nothing to race over.
The two processes meet on shared memory, each spinning on its own CPU (a sleeping wait's wake-up
takes longer than the path from conntrack to the confirmation). Prints {"sent": N, "flows": N,
"cpus": [a, b]} as JSON; exits with an error on fewer than 2 CPUs.
"""
import json
import mmap
import os
import signal
import socket
import sys
import time

addr, port, flows, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if mode not in ("one", "two"):
    sys.exit(f"unknown mode {mode}")
cpus = sorted(os.sched_getaffinity(0))[:2]
if len(cpus) < 2:
    sys.exit(f"needs two CPUs, this process may run on {len(cpus)}")
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
wild = "::" if fam == socket.AF_INET6 else "0.0.0.0"
per = 1 if mode == "one" else 2
# Every socket made and bound first: an unbound socket's first send takes its port under the
# socket's lock, which would line the two sends up.
socks = []
for _ in range(flows * per):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((wild, 0))
    socks.append(s)
# Per flow: byte 2i is "the second sender is there", byte 2i+1 "go".
flag = mmap.mmap(-1, 2 * flows)
# A sender whose sibling is gone stops spinning after this long, and says so.
SPIN_S = 10


def spin(i):
    end = time.monotonic() + SPIN_S
    n = 0
    while flag[i] == 0:
        n += 1
        if n % 100000 == 0 and time.monotonic() > end:
            print(f"the other sender did not come within {SPIN_S} s", file=sys.stderr)
            os._exit(1)


pids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        os.sched_setaffinity(0, {cpus[k]})
        try:
            for i in range(flows):
                s = socks[i * per + (k if per == 2 else 0)]
                if k == 1:
                    flag[2 * i] = 1
                    spin(2 * i + 1)
                else:
                    spin(2 * i)
                    flag[2 * i + 1] = 1
                s.sendto(b"AB"[k:k + 1], (addr, port))
        except OSError as e:
            print(f"send: {e}", file=sys.stderr)
            os._exit(1)
        os._exit(0)
    pids.append(pid)
# The first to fail takes its sibling with it: it would spin on its CPU for nothing.
failed = 0
left = set(pids)
killed = set()
while left:
    pid, status = os.wait()
    left.discard(pid)
    if status != 0 and pid not in killed:
        failed += 1
        for other in left:
            os.kill(other, signal.SIGKILL)
            killed.add(other)
if failed:
    sys.exit(f"{failed} sender(s) failed")
print(json.dumps({"sent": 2 * flows, "flows": flows * per, "cpus": cpus}))
