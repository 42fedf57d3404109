#!/bin/sh
# capture/conntrack-host.sh OUTDIR - real `conntrack -L` text for the parser's
# fixtures: in a netns this script creates and removes, conntrack is enabled
# by an nft ct rule, then an established TCP flow, a refused TCP connect, a
# UDP datagram and an ICMP echo, all on loopback. Writes default.txt and
# extended.txt (-o extended) and the conntrack version.
set -eu
OUT=$1
NS=nfscope-ct-$$
trap 'kill $LPID 2>/dev/null || true; ip netns del $NS 2>/dev/null || true' EXIT
LPID=
ip netns add $NS
ip -n $NS link set lo up
ip netns exec $NS nft 'add table inet t; add chain inet t c { type filter hook input priority 0; }; add rule inet t c ct state established accept'
ip netns exec $NS python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 2570)); s.listen()
c, _ = s.accept(); time.sleep(30)" &
LPID=$!
sleep 0.5
ip netns exec $NS python3 -c "
import socket, time
a = socket.create_connection(('127.0.0.1', 2570)); a.send(b'x')
socket.socket().connect_ex(('127.0.0.1', 2571))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b'x', ('127.0.0.1', 2572))
s6 = socket.socket(socket.AF_INET6); s6.connect_ex(('::1', 2573))
import subprocess
subprocess.run(['conntrack', '-L'], stdout=open('$OUT/default.txt', 'w'), stderr=subprocess.DEVNULL)
subprocess.run(['conntrack', '-L', '-o', 'extended'], stdout=open('$OUT/extended.txt', 'w'), stderr=subprocess.DEVNULL)
"
conntrack --version > "$OUT/version.txt" 2>&1
