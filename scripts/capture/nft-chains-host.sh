#!/usr/bin/env bash
# capture/nft-chains-host.sh - real `nft -j list chains` for follow's chain-to-hook
# reading: a throwaway netns with the article's iptables-nft rules and a trace table
# shaped like follow's (inet nfscope_followcap: pre at prerouting, out at output,
# the names test/fixtures/follow/<kernel>/{drop,accept} were captured with).
# Usage: scripts/capture/nft-chains-host.sh OUTDIR     (root)
set -euo pipefail
out=${1:?usage: nft-chains-host.sh OUTDIR}
ns=nfst-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
x() { nsenter --net="/run/netns/$ns" -- "$@"; }
x iptables -A INPUT -p tcp --dport 2571 -j DROP
x iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
x nft add table inet nfscope_followcap
x nft add chain inet nfscope_followcap pre '{ type filter hook prerouting priority -2147483647; }'
x nft add chain inet nfscope_followcap out '{ type filter hook output priority -2147483647; }'
mkdir -p "$out"
x nft -j list chains > "$out/stdout.json"
cat > "$out/meta.json" <<META
{
  "argv": "nsenter --net=NS nft -j list chains",
  "tool": "$(nft --version)",
  "kernel": "$(uname -r)",
  "captured": "$(date +%F)",
  "setup": "scripts/capture/nft-chains-host.sh: iptables-nft -A INPUT -p tcp --dport 2571 -j DROP, -m conntrack --ctstate INVALID -j DROP; table inet nfscope_followcap, chains pre (prerouting) and out (output) at priority -2147483647"
}
META
