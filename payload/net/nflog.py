#!/usr/bin/env python3
"""nflog.py - the packets nf_log hands to nfnetlink_log group GROUP in this netns, a JSON line each.

USAGE: python3 nflog.py GROUP     (inside the netns; prints READY once bound, then runs until killed)

Each line: {"prefix": the logger's prefix (conntrack's invalid log puts its reason there),
"ip_len", "proto", "sport", "dport" of the IPv4 packet}. Binding the group loads nfnetlink_log
where it is a module (nfnetlink asks for its subsystem). Used with the netns's nf_log/2 set to
nfnetlink_log and nf_conntrack_log_invalid set: per-netns settings, gone with the netns.
"""
import json
import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET, NFULNL_MSG_CONFIG = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_TIMEOUT, NFULA_CFG_QTHRESH = 1, 2, 4, 5
NFULNL_CFG_CMD_BIND = 1
NFULNL_COPY_PACKET = 2
NFULA_PAYLOAD, NFULA_PREFIX = 9, 10

group = int(sys.argv[1])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
s.bind((0, 0))
seq = 0


def attr(t, data):
    n = 4 + len(data)
    return struct.pack("HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)


def config(a):
    global seq
    seq += 1
    body = struct.pack("BBH", socket.AF_UNSPEC, 0, socket.htons(group)) + a
    s.send(struct.pack("IHHII", 16 + len(body), (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body)
    data = s.recv(65536)
    _, typ, _, _, _ = struct.unpack_from("IHHII", data)
    if typ != NLMSG_ERROR:
        sys.exit(f"nfnetlink_log config: answer of type {typ}, not an ack")
    err = struct.unpack_from("i", data, 16)[0]
    if err != 0:
        sys.exit(f"nfnetlink_log config: {os.strerror(-err)}")


config(attr(NFULA_CFG_CMD, struct.pack("B", NFULNL_CFG_CMD_BIND)))
# The packet's first 64 bytes: its IP and TCP/UDP headers, to tell which packet was logged.
config(attr(NFULA_CFG_MODE, struct.pack(">IBB", 64, NFULNL_COPY_PACKET, 0)))
# Each packet sent at once: the kernel's defaults batch up to 100 packets or 1 s.
config(attr(NFULA_CFG_QTHRESH, struct.pack(">I", 1)))
config(attr(NFULA_CFG_TIMEOUT, struct.pack(">I", 0)))
print("READY", flush=True)

while True:
    data = s.recv(65536)
    off = 0
    while off + 16 <= len(data):
        ln, typ, _, _, _ = struct.unpack_from("IHHII", data, off)
        if ln < 16:
            break
        if typ == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
            out = {"prefix": None, "ip_len": None, "proto": None, "sport": None, "dport": None}
            a = off + 20  # nlmsghdr, nfgenmsg
            while a + 4 <= off + ln:
                alen, atype = struct.unpack_from("HH", data, a)
                if alen < 4:
                    break
                v = data[a + 4:a + alen]
                atype &= 0x7FFF
                if atype == NFULA_PREFIX:
                    out["prefix"] = v.split(b"\0", 1)[0].decode("utf-8", "replace")
                elif atype == NFULA_PAYLOAD and len(v) >= 20 and v[0] >> 4 == 4:
                    ihl = (v[0] & 15) * 4
                    out["ip_len"], out["proto"] = struct.unpack_from(">H", v, 2)[0], v[9]
                    if out["proto"] in (6, 17) and len(v) >= ihl + 4:
                        out["sport"], out["dport"] = struct.unpack_from(">HH", v, ihl)
                a += (alen + 3) & ~3
            print(json.dumps(out), flush=True)
        off += (ln + 3) & ~3
