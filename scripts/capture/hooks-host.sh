#!/usr/bin/env bash
# capture-hooks-fixture.sh - record real bpf/nf_hooks.bt output as a parser fixture.
# Builds a throwaway netns with iptables DROP + conntrack rules, netdev, arp and
# bridge chains, runs the walk, and writes stdout plus meta.json (argv, versions,
# kernel) under test/fixtures/bpftrace/<kernel>/<case>/. Removes the netns on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
case_name=${1:-conntrack-netdev}
ns="nfscap-$$"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT INT TERM
ip netns add "$ns"
x() { ip netns exec "$ns" "$@"; }
x ip link set lo up
setup="iptables INPUT DROP tcp 2571 + -m conntrack ESTABLISHED; ip6tables INPUT DROP tcp 2571; netdev ingress chain on nfcapa prio -5; arp output chain prio 3"
if [ "$case_name" = many-chains ]; then
  # More entries at one hook than the script's loop bound (32): the parser must say so.
  x nft add table ip many
  for i in $(seq 1 40); do x nft add chain ip many "c$i" "{ type filter hook input priority $i; }"; done
  setup="$setup; plus 40 nft chains at ip input, priorities 1..40"
fi
x iptables -A INPUT -p tcp --dport 2571 -j DROP
x iptables -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
x ip6tables -A INPUT -p tcp --dport 2571 -j DROP
x ip link add nfcapa type veth peer name nfcapb
x nft add table netdev t
x nft add chain netdev t i '{ type filter hook ingress device nfcapa priority -5; }'
x nft add table arp a
x nft add chain arp a o '{ type filter hook output priority 3; }'
kernel=$(uname -r)
dir="test/fixtures/bpftrace/$kernel/$case_name"
mkdir -p "$dir"
argv=(nsenter "--net=/run/netns/$ns" bpftrace -f json bpf/nf_hooks.bt 31)
"${argv[@]}" > "$dir/stdout.jsonl" 2> "$dir/stderr.txt"
cat > "$dir/meta.json" <<META
{
  "argv": "$(printf '%s ' "${argv[@]}" | sed 's/ $//')",
  "tool": "$(bpftrace --version)",
  "kernel": "$kernel",
  "captured": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "setup": "$setup"
}
META
echo "wrote $dir"
