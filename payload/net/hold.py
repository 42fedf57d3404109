#!/usr/bin/env python3
"""hold.py - COUNT established TCP connections to ADDR:PORT, held open until killed.

USAGE: python3 hold.py ADDR PORT COUNT     (inside the client netns)

Each connection completes its handshake (a blocking connect, 10 s at most), so conntrack marks
its entry ASSURED; nothing is sent on them after, and none is closed until this process ends.
Prints READY once all COUNT are connected; a connection that fails ends it with an error.
"""
import socket
import sys
import time

addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
held = []
for i in range(count):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect((addr, port))
    except OSError as e:
        sys.exit(f"connection {i + 1} of {count}: {e}")
    held.append(s)
print("READY", flush=True)
while True:
    time.sleep(3600)
