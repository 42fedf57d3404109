#!/usr/bin/env bash
# hooks-flowtable-vm.sh - record a real listing of an nf_tables flowtable on a device's ingress and its
# flowtable walk as parser fixtures, in nfscope's micro-VM on Debian 6.1 (this host's 6.18 has no
# flowtables: no nf_flow_table, and no modules to load): test/fixtures/bpftrace{,-ft}/<kernel>/flowtable/.
# In the guest: a netns, a veth pair, `table inet nfs_ft` with flowtable `ft` on v0's ingress and a
# forward chain offloading TCP to it, a netdev chain on the same ingress; then `nfscope hooks --family
# netdev` under NFSCOPE_CAPTURE_DIR. The guest's files come back as a tar on stdout. The VM is
# disposable: nothing to remove in it; here, the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=${1:-6.1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
setup='a netns: veth v0/v1; nft: table inet nfs_ft { flowtable ft { hook ingress priority 0; devices = { v0 } }; chain fw { type filter hook forward priority 0; ip protocol tcp flow add @ft } }; table netdev nfs_nd { chain in { type filter hook ingress device v0 priority -5 } }'
guest='set -eu
ip netns add cap
ip -n cap link add v0 type veth peer name v1
ip -n cap link set v0 up
ip -n cap link set v1 up
ip netns exec cap nft add table inet nfs_ft
ip netns exec cap nft add flowtable inet nfs_ft ft "{ hook ingress priority 0; devices = { v0 }; }"
ip netns exec cap nft add chain inet nfs_ft fw "{ type filter hook forward priority 0; }"
ip netns exec cap nft add rule inet nfs_ft fw ip protocol tcp flow add @ft
ip netns exec cap nft add table netdev nfs_nd
ip netns exec cap nft add chain netdev nfs_nd in "{ type filter hook ingress device v0 priority -5; }"
mkdir /tmp/cap
cd /opt/nfscope
NFSCOPE_CAPTURE_DIR=/tmp/cap NFSCOPE_CAPTURE_CASE=flowtable NFSCOPE_CAPTURE_SETUP="$1" node dist/main.js hooks --netns cap --family netdev --backend bpftrace >&2
tar -C /tmp/cap -cf - . | base64 -w0'
node dist/main.js vm run --kernel "$kernel" -- sh -c "$guest" sh "$setup" > "$tmp/tar.b64"
base64 -d < "$tmp/tar.b64" | tar -C test/fixtures -xf - --wildcards './bpftrace/*/flowtable/*' './bpftrace-ft/*/flowtable/*'
find test/fixtures/bpftrace/*/flowtable test/fixtures/bpftrace-ft -type f | sort
