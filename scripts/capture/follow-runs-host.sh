#!/usr/bin/env bash
# capture/follow-runs-host.sh - two real `nfscope follow --json` runs of the same traffic in a
# throwaway netns pair, before and after a drop rule: the input of `follow --diff` and its tests.
#   good: a SYN to port 2577, a listener there, no rule for it (the INPUT chain's policy accepts)
#   bad:  the same after `iptables -I INPUT -p tcp --dport 2577 -j DROP`
# Usage: scripts/capture/follow-runs-host.sh OUTDIR     (root; run `npm run build` first)
set -euo pipefail
out=${1:?usage: follow-runs-host.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
S=nfst-$id-s C=nfst-$id-c
lp=
cleanup() { [ -n "$lp" ] && kill "$lp" 2>/dev/null; ip netns del "$S" 2>/dev/null || true; ip netns del "$C" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$S"; ip netns add "$C"
ip -n "$C" link add fa type veth peer name fb netns "$S"
ip -n "$C" addr add 198.19.78.1/30 dev fa; ip -n "$S" addr add 198.19.78.2/30 dev fb
for n in "$S" "$C"; do ip -n "$n" link set lo up; done
ip -n "$C" link set fa up; ip -n "$S" link set fb up
ns() { nsenter --net="/run/netns/$S" -- "$@"; }
ns iptables -A INPUT -p tcp --dport 2571 -j DROP
nsenter --net="/run/netns/$S" -- python3 "$root/payload/net/listen.py" 198.19.78.2 2577 > "$out/.listen" 2>&1 & lp=$!
for _ in $(seq 100); do grep -qx READY "$out/.listen" 2>/dev/null && break; sleep 0.1; done
args=(--port 2577 --proto tcp --nftrace --count 1 --duration 30 --json)
for case in good bad; do
  [ "$case" = bad ] && ns iptables -I INPUT -p tcp --dport 2577 -j DROP
  d="$out/$case"; mkdir -p "$d"; rm -f "$out/.ready"
  node "$root/dist/main.js" follow --netns "$S" --ready-file "$out/.ready" "${args[@]}" > "$d/follow.ndjson" & fp=$!
  for _ in $(seq 600); do [ -f "$out/.ready" ] && break; sleep 0.1; done
  nsenter --net="/run/netns/$C" -- python3 "$root/payload/net/syn.py" 198.19.78.2 2577 1 > /dev/null
  wait $fp
  cat > "$d/meta.json" <<META
{
  "argv": "nfscope follow --netns NS ${args[*]}",
  "tool": "nfscope $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo ' with uncommitted changes') / $(bpftrace --version) / $(nft --version) / $(conntrack --version 2>&1 | head -1)",
  "kernel": "$(uname -r)",
  "captured": "$(date +%F)",
  "setup": "scripts/capture/follow-runs-host.sh: server netns with iptables-nft -A INPUT -p tcp --dport 2571 -j DROP, a listener on 198.19.78.2:2577, one SYN to it from the client netns (payload/net/syn.py); case $case$([ "$case" = bad ] && echo ': iptables -I INPUT -p tcp --dport 2577 -j DROP first')"
}
META
done
rm -f "$out/.ready" "$out/.listen"
