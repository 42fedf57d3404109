#!/usr/bin/env bash
# capture/follow-host.sh - real outputs of follow's three host sources, run
# together in a throwaway netns pair: `nft -a monitor` with a trace rule,
# bpf/follow_drop.bt, and `conntrack -E -o timestamp,id`. Two cases:
#   drop:   a SYN to port 2571, dropped by iptables-nft (-A INPUT -p tcp --dport 2571 -j DROP)
#   accept: a TCP connection to port 2572 that a listener accepts (a conntrack rule makes
#           conntrack track it: NEW, UPDATE, DESTROY events)
# Usage: scripts/capture/follow-host.sh OUTDIR     (root; tracefs mounted)
set -euo pipefail
out=${1:?usage: follow-host.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
S=nfst-$id-s C=nfst-$id-c
cleanup() { ip netns del "$S" 2>/dev/null || true; ip netns del "$C" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$S"; ip netns add "$C"
ip link add "nfst${id}s" type veth peer name "nfst${id}c"
ip link set "nfst${id}s" netns "$S"; ip link set "nfst${id}c" netns "$C"
ip -n "$S" addr add 198.19.77.2/30 dev "nfst${id}s"; ip -n "$C" addr add 198.19.77.1/30 dev "nfst${id}c"
for n in "$S" "$C"; do ip -n "$n" link set lo up; done
ip -n "$S" link set "nfst${id}s" up; ip -n "$C" link set "nfst${id}c" up
ns() { nsenter --net="/run/netns/$S" -- "$@"; }
ns iptables -A INPUT -p tcp --dport 2571 -j DROP
ns iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
ino=$(stat -L -c %i "/run/netns/$S")
for case in drop accept; do
  port=2571; [ "$case" = accept ] && port=2572
  d="$out/$case"; mkdir -p "$d"
  nsenter --net="/run/netns/$S" -- nft -a monitor > "$d/nft-monitor.txt" 2>&1 & mon=$!
  nsenter --net="/run/netns/$S" -- conntrack -E -o timestamp,id > "$d/conntrack-events.txt" 2>&1 & ev=$!
  bpftrace -f json "$root/bpf/follow_drop.bt" "$ino" 6 "$port" 0 0 0 0 0 0 > "$d/follow_drop.jsonl" 2>/dev/null & bt=$!
  until grep -q READY "$d/follow_drop.jsonl" 2>/dev/null; do sleep 0.2; done
  ns nft add table inet nfscope_followcap
  ns nft add chain inet nfscope_followcap pre '{ type filter hook prerouting priority -2147483647; }'
  ns nft add rule inet nfscope_followcap pre meta l4proto tcp th sport "$port" meta nftrace set 1
  ns nft add rule inet nfscope_followcap pre meta l4proto tcp th dport "$port" meta nftrace set 1
  sleep 0.5
  if [ "$case" = drop ]; then
    nsenter --net="/run/netns/$C" -- timeout 2 bash -c "echo > /dev/tcp/198.19.77.2/$port" || true
  else
    ns timeout 3 python3 -c "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('198.19.77.2',$port));s.listen();c,_=s.accept();c.recv(10);c.close()" & srv=$!
    sleep 0.5
    nsenter --net="/run/netns/$C" -- python3 -c "import socket;s=socket.create_connection(('198.19.77.2',$port));s.send(b'hi');s.close()"
    wait $srv || true
  fi
  sleep 1
  ns nft delete table inet nfscope_followcap
  sleep 0.3
  kill -INT $bt; kill $mon $ev; wait $bt $mon $ev 2>/dev/null || true
  cat > "$d/meta.json" <<META
{
  "argv": "nsenter --net=NS nft -a monitor | nsenter --net=NS conntrack -E -o timestamp,id | bpftrace -f json bpf/follow_drop.bt NETNS_INODE 6 $port 0 0 0 0 0 0",
  "tool": "$(bpftrace --version) / $(nft --version) / $(conntrack --version 2>&1 | head -1)",
  "kernel": "$(uname -r)",
  "captured": "$(date +%F)",
  "setup": "scripts/capture/follow-host.sh: server netns with iptables-nft -A INPUT -p tcp --dport 2571 -j DROP and -m conntrack --ctstate INVALID -j DROP; trace table inet nfscope_followcap (prerouting, priority -2147483647, meta nftrace set 1 for tcp port $port); case $case"
}
META
done
