#!/usr/bin/env python3
"""udpflood.py - send small UDP datagrams as fast as one process can, for SECONDS.

USAGE: python3 udpflood.py ADDR PORT SECONDS
Prints {"sent", "seconds", "rate"} as JSON. Run it inside a client netns the caller made;
the receiver is in the server netns behind a veth: never routed anywhere else.
"""
import json
import socket
import sys
import time

addr, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
payload = b"x" * 32
sent = 0
t0 = time.monotonic()
end = t0 + seconds
while True:
    # The clock is read once per 256 datagrams: time.monotonic() per send halves the rate.
    for _ in range(256):
        try:
            s.sendto(payload, (addr, port))
            sent += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
    if time.monotonic() >= end:
        break
dt = time.monotonic() - t0
print(json.dumps({"sent": sent, "seconds": round(dt, 3), "rate": round(sent / dt)}))
