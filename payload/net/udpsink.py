#!/usr/bin/env python3
"""udpsink.py - count the UDP datagrams each port receives, until SIGINT or SIGTERM.

USAGE: python3 udpsink.py ADDR PORT [PORT ...]    (inside the server netns)

Prints READY once every port is bound; on SIGINT or SIGTERM prints {"received": {"PORT": N, ...}} as JSON
and exits. A datagram counted here got past conntrack's confirmation: one dropped there never
reaches a socket.
"""
import json
import selectors
import signal
import socket
import sys

addr, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
sel = selectors.DefaultSelector()
counts = {}
for p in ports:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, p))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, p)
    counts[str(p)] = 0
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
print("READY", flush=True)
while not stop:
    for key, _ in sel.select(timeout=0.2):
        while True:
            try:
                key.fileobj.recv(64)
            except BlockingIOError:
                break
            counts[str(key.data)] += 1
print(json.dumps({"received": counts}), flush=True)
