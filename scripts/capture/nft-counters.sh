#!/usr/bin/env bash
# nft-counters.sh - a fixture for parsers/nft-rule-counters.ts: `nft -j list table` of a table with
# commented counter rules (the early-chain scenario's), after real packets over a veth pair, in
# netns of this script's own (deleted on exit), on this machine's kernel.
# Writes test/fixtures/nft-counters/<kernel>/rule-counters/{stdout.json,meta.json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=nfsc$$
. scripts/capture/lib-pair.sh
trap pair_down EXIT
pair_up
ip netns exec "$tag-s" nft -f - <<'NFT'
table ip nfscope_early_fixture {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    ip saddr 198.18.7.1 tcp dport 2570 counter comment "seen"
    ip saddr 198.18.7.1 tcp dport 2570 ct state established counter comment "established"
    ip saddr 198.18.7.1 tcp dport 2570 ct state invalid counter comment "invalid"
    ip saddr 198.18.7.1 tcp dport 2570 meta mark set 1
  }
}
NFT
# Three SYNs (no listener: each answered by a RST).
ip netns exec "$tag-c" python3 payload/net/syn.py 198.18.7.2 2570 3 300 >/dev/null
argv=(nft -j list table ip nfscope_early_fixture)
out=$(ip netns exec "$tag-s" "${argv[@]}")
kernel=$(uname -r)
dir=test/fixtures/nft-counters/$kernel/rule-counters
mkdir -p "$dir"
printf '%s\n' "$out" > "$dir/stdout.json.tmp" && mv "$dir/stdout.json.tmp" "$dir/stdout.json"
node -e 'const [argv, tool, kernel] = JSON.parse(process.argv[1]); console.log(JSON.stringify({ argv, tool, kernel, case: "a prerouting chain at -300: seen, established, invalid counters by comment, and a rule without counter; 3 SYNs sent (no listener)", expect: { seen: 3, established: 0, invalid: 3 } }, null, 2))' \
  "$(node -e 'console.log(JSON.stringify([process.argv.slice(3).join(" "), process.argv[1], process.argv[2]]))' "$(nft --version)" "$kernel" "${argv[@]}")" > "$dir/meta.json.tmp" && mv "$dir/meta.json.tmp" "$dir/meta.json"
ls -l "$dir"
