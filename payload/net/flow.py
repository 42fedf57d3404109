#!/usr/bin/env python3
"""flow.py - one long-lived TCP flow, for the lab's registration step.

USAGE: python3 flow.py serve ADDR PORT            (server netns) accept one
                                                  connection, read until EOF
       python3 flow.py talk ADDR PORT SECONDS     (client netns) connect, then
                                                  send one byte every 50 ms
Both print READY when set (listening / connected), then run until done or
killed. The flow keeps packets crossing the server's hooks, so a conntrack
that registers its hooks mid-flow picks the connection up (nf_conntrack_tcp_loose).
"""
import socket
import sys
import time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if mode == "serve":
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    print("READY", flush=True)
    c, _ = s.accept()
    while c.recv(4096):
        pass
elif mode == "talk":
    seconds = float(sys.argv[4])
    c = socket.create_connection((addr, port), timeout=5)
    print("READY", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c.send(b"x")
        time.sleep(0.05)
    c.close()
else:
    sys.exit(f"unknown mode {mode}")
