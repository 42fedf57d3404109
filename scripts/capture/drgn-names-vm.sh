#!/usr/bin/env bash
# drgn-names-vm.sh - record payload/drgn/nf_hooks.py naming what each entry runs, as a parser fixture,
# in nfscope's micro-VM on Debian 5.10 (the kernel whose debug info every boot of it fetches; drgn
# reads the kernel's DWARF): test/fixtures/drgn/<kernel>/names/. In the guest: a netns with
# iptables-nft's filter INPUT and nat POSTROUTING chains (NAT chains sit behind nf_nat's entry) and a
# netdev chain on a veth's ingress; then nf_hooks.py on that netns. The output comes back on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=${1:-5.10}
out=test/fixtures/drgn
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
setup='a netns: iptables -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT; iptables -t nat -A POSTROUTING -j MASQUERADE; veth da/db; nft table netdev t, chain i on da ingress priority 9'
guest='set -eu
ip netns add d
ip netns exec d iptables -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
ip netns exec d iptables -t nat -A POSTROUTING -j MASQUERADE
ip netns exec d ip link add da type veth peer name db
ip netns exec d nft add table netdev t
ip netns exec d nft add chain netdev t i "{ type filter hook ingress device da priority 9; }"
echo "KERNEL $(uname -r)"
echo "DRGN $(drgn --version 2>&1 | head -1)"
ip netns exec d drgn --quiet /opt/nfscope/payload/drgn/nf_hooks.py self 31'
node dist/main.js vm run --kernel "$kernel" -- sh -c "$guest" > "$tmp/out"
release=$(sed -n 's/^KERNEL //p' "$tmp/out")
tool=$(sed -n 's/^DRGN //p' "$tmp/out")
mkdir -p "$out/$release/names"
grep '^{' "$tmp/out" > "$out/$release/names/stdout.jsonl"
node -e 'const [argv, tool, setup, kernel] = process.argv.slice(1); process.stdout.write(JSON.stringify({ argv, tool, setup, kernel, captured: new Date().toISOString() }, null, 2) + "\n")' \
  "ip netns exec d drgn --quiet payload/drgn/nf_hooks.py self 31" "$tool" "$setup" "$release" > "$out/$release/names/meta.json"
wc -l "$out/$release/names/stdout.jsonl"
