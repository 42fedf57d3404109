#!/usr/bin/env python3
"""inject.py - a TCP connection, then one segment of it far outside the receiver's window.

USAGE: python3 inject.py ADDR PORT   (inside the client netns; root: TCP_REPAIR and a raw socket)

Connects to ADDR:PORT (through whatever DNAT the server side has), sends one byte, reads the
socket's own next sequence and acknowledgement numbers (TCP_REPAIR, TCP_QUEUE_SEQ), then sends with
a raw socket one ACK segment of the same four-tuple carrying 37 bytes at seq = snd_nxt + 2^30: over
the upper bound of the receiver's window, which conntrack calls INVALID on 5.10 to 7.x. It then
waits up to 2 s for what the connection does: a RST coming back (ECONNRESET on the next send) or
nothing. Prints one JSON line: {"sport", "snd_nxt", "injected_seq", "reset", "error"}.
The raw segment goes out of the client netns only; the caller made that netns and its veth.
"""
import errno
import json
import socket
import struct
import sys
import time

TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def queue_seq(sock, queue):
    sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)
    return struct.unpack("I", sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    c = socket.create_connection((addr, port), timeout=5)
    c.sendall(b"x")
    time.sleep(0.3)
    src, sport = c.getsockname()
    c.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    try:
        snd_nxt = queue_seq(c, TCP_SEND_QUEUE)
        rcv_nxt = queue_seq(c, TCP_RECV_QUEUE)
    finally:
        # TCP_REPAIR_OFF_NO_WP (-1, 4.17+): leave repair without the window probe TCP_REPAIR_OFF sends,
        # so the only segment this script adds to the connection is the injected one.
        c.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, -1)
    seq = (snd_nxt + (1 << 30)) & 0xFFFFFFFF
    # 37 bytes: an IP length (77) no other packet of the connection has, so a rule can count it alone.
    payload = b"y" * 37
    # TCP header: ports, seq, ack, data offset 5 words, flags ACK|PSH, window, checksum 0, urgent 0.
    hdr = struct.pack("!HHIIBBHHH", sport, port, seq, rcv_nxt, 5 << 4, 0x18, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(addr) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr) + len(payload))
    hdr = hdr[:16] + struct.pack("!H", checksum(pseudo + hdr + payload)) + hdr[18:]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw.sendto(hdr + payload, (addr, 0))
    reset, error = False, None
    deadline = time.monotonic() + 2.0
    c.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            c.send(b"z")
        except socket.timeout:
            error = "timeout"
            break
        except OSError as e:
            reset = e.errno in (errno.ECONNRESET, errno.EPIPE)
            error = errno.errorcode.get(e.errno, str(e.errno))
            break
        time.sleep(0.1)
    print(json.dumps({"sport": sport, "snd_nxt": snd_nxt, "injected_seq": seq, "reset": reset, "error": error}), flush=True)


main()
