#!/usr/bin/env python3
"""udp.py - UDP flows for the lab's scenarios (stale-udp: one live flow; table-full: many).

USAGE: python3 udp.py flow ADDR PORT SECONDS   send one datagram every 50 ms from one socket,
                                               print READY after the first, run until done or killed
       python3 udp.py once ADDR PORT COUNT      COUNT datagrams from a new socket (a new flow),
                                               print {"sent": COUNT} as JSON
       python3 udp.py spread ADDR PORT COUNT    one datagram from each of COUNT new sockets (COUNT
                                               flows, each its own source port), print {"sent": COUNT}
Unconnected sends: an ICMP port unreachable coming back is not an error here. Run it inside the
client netns the caller made; the receiver is in the server netns behind a veth.
"""
import json
import socket
import sys
import time

mode, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if mode == "flow":
    end = time.monotonic() + n
    s.sendto(b"x", (addr, port))
    print("READY", flush=True)
    while time.monotonic() < end:
        time.sleep(0.05)
        s.sendto(b"x", (addr, port))
elif mode == "once":
    for _ in range(int(n)):
        s.sendto(b"x", (addr, port))
        time.sleep(0.01)
    print(json.dumps({"sent": int(n)}))
elif mode == "spread":
    s.close()
    for _ in range(int(n)):
        f = socket.socket(fam, socket.SOCK_DGRAM)
        f.sendto(b"x", (addr, port))
        f.close()
    print(json.dumps({"sent": int(n)}))
else:
    sys.exit(f"unknown mode {mode}")
