#!/usr/bin/env python3
"""listen.py - accept TCP connections on ADDR:PORT until killed, closing each at once,
or with `hold`, keeping each open (no FIN from this side: its flow stays ESTABLISHED).

USAGE: python3 listen.py ADDR PORT [hold]   (inside the server netns; prints READY,
then ACCEPTED for each connection it holds)
"""
import socket
import sys

addr, port = sys.argv[1], int(sys.argv[2])
hold = len(sys.argv) > 3 and sys.argv[3] == "hold"
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(4096)
print("READY", flush=True)
held = []
while True:
    c, _ = s.accept()
    if hold:
        held.append(c)
        print("ACCEPTED", flush=True)
    else:
        c.close()
