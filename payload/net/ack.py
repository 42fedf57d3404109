#!/usr/bin/env python3
"""ack.py - send one bare TCP ACK (no connection behind it) from SRC to DST:PORT.

USAGE: python3 ack.py SRC DST PORT   (inside the client netns; root: a raw socket)

With nf_conntrack_tcp_loose=0 in the receiver's netns, conntrack cannot take
such a segment for a new connection: the packet has no entry (ctinfo INVALID),
which `-m conntrack --ctstate INVALID -j DROP` drops. The kernel builds the IP
header; this script the TCP header and its checksum.
"""
import socket
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
hdr = struct.pack("!HHIIBBHHH", 40000, port, 1000, 2000, 5 << 4, 0x10, 64240, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.sendto(hdr, (dst, 0))
