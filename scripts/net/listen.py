#!/usr/bin/env python3
"""listen.py - accept and close TCP connections on ADDR:PORT until killed.

USAGE: python3 listen.py ADDR PORT   (inside the server netns; prints READY)
"""
import socket
import sys

addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(4096)
print("READY", flush=True)
while True:
    c, _ = s.accept()
    c.close()
