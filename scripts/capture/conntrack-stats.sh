#!/usr/bin/env bash
# conntrack-stats.sh - a fixture for parsers/conntrack-stats.ts: `conntrack -S` and `conntrack -C`
# of a netns of this script's own (deleted on exit) after real packets over a veth pair, on this
# machine's kernel: 3 connections to a listener (closed after 300 ms), with an nft
# `ct state` rule so that conntrack tracks in that netns.
# Writes test/fixtures/conntrack-stats/<kernel>/{stats,count}/{stdout.txt,meta.json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=nfst$$
. scripts/capture/lib-pair.sh
trap pair_down EXIT
pair_up
ip netns exec "$tag-s" nft -f - <<'NFT'
table ip nfscope_stats_fixture {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr 198.18.7.1 ct state new counter
  }
}
NFT
# A listener, so the connections' entries stay (a SYN answered by a RST has its entry killed at once).
# Its output in a directory of this run's own (mktemp: private, never a name another user could plant).
out=$(mktemp -d)
trap 'kill ${listener:-} 2>/dev/null || :; rm -rf "$out"; pair_down' EXIT
ip netns exec "$tag-s" python3 payload/net/listen.py 198.18.7.2 2570 > "$out/listen" &
listener=$!
for _ in $(seq 50); do grep -q READY "$out/listen" && break; sleep 0.1; done
grep -q READY "$out/listen"
ip netns exec "$tag-c" python3 payload/net/syn.py 198.18.7.2 2570 3 300 >/dev/null
kernel=$(uname -r)
for what in stats count; do
  flag=-S; [ "$what" = count ] && flag=-C
  argv=(conntrack "$flag")
  dir=test/fixtures/conntrack-stats/$kernel/$what
  mkdir -p "$dir"
  ip netns exec "$tag-s" "${argv[@]}" > "$dir/stdout.txt.tmp" && mv "$dir/stdout.txt.tmp" "$dir/stdout.txt"
  node -e 'const [argv, tool, kernel, cpus] = process.argv.slice(1); console.log(JSON.stringify({ argv, tool, kernel, case: "a netns of its own, 3 connections to a listener (payload/net/listen.py), each closed by syn.py after 300 ms, conntrack active through an nft ct rule", cpus: Number(cpus) }, null, 2))' \
    "${argv[*]}" "$(conntrack --version 2>&1)" "$kernel" "$(nproc)" > "$dir/meta.json.tmp" && mv "$dir/meta.json.tmp" "$dir/meta.json"
done
ls -l test/fixtures/conntrack-stats/$kernel/*
