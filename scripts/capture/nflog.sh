#!/usr/bin/env bash
# nflog.sh - a fixture for parsers/nflog.ts: payload/net/nflog.py's lines for packets conntrack
# logged as INVALID, in a netns of this script's own (deleted on exit), on this machine's kernel:
# a TCP segment with SYN and FIN set (raw socket, over lo), with nf_conntrack_log_invalid=6 and the
# netns's IPv4 logger set to nfnetlink_log (both per netns: nothing machine-wide is changed).
# Writes test/fixtures/nflog/<kernel>/synfin/{stdout.jsonl,meta.json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
ns=nfsl$$
out=$(mktemp -d)
cleanup() { [ -n "${reader:-}" ] && kill "$reader" 2>/dev/null || :; ip netns del "$ns" 2>/dev/null || :; rm -rf "$out"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" nft -f - <<'NFT'
table ip nfscope_nflog_fixture {
  chain in {
    type filter hook input priority 0; policy accept;
    ct state invalid counter
  }
}
NFT
argv=(python3 payload/net/nflog.py 0)
ip netns exec "$ns" "${argv[@]}" > "$out/lines" &
reader=$!
for _ in $(seq 50); do grep -q READY "$out/lines" && break; sleep 0.1; done
grep -q READY "$out/lines"
ip netns exec "$ns" sh -c 'echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2; echo 6 > /proc/sys/net/netfilter/nf_conntrack_log_invalid'
ip netns exec "$ns" python3 -c '
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.sendto(struct.pack(">HHIIBBHHH", 40000, 9, 1, 0, 5 << 4, 0x03, 1024, 0, 0), ("127.0.0.1", 0))'
sleep 1
kernel=$(uname -r)
dir=test/fixtures/nflog/$kernel/synfin
mkdir -p "$dir"
grep -v '^READY$' "$out/lines" > "$dir/stdout.jsonl.tmp" && mv "$dir/stdout.jsonl.tmp" "$dir/stdout.jsonl"
node -e 'const [argv, tool, kernel] = process.argv.slice(1); console.log(JSON.stringify({ argv, tool, kernel, case: "one TCP segment with SYN and FIN (raw socket, 127.0.0.1:40000 → 127.0.0.1:9, IP length 40) in a netns with nf_conntrack_log_invalid=6 and nf_log/2=nfnetlink_log" }, null, 2))' \
  "ip netns exec NS ${argv[*]}" "payload/net/nflog.py, python $(python3 -c 'import sys; print(sys.version.split()[0])')" "$kernel" > "$dir/meta.json.tmp" && mv "$dir/meta.json.tmp" "$dir/meta.json"
cat "$dir/stdout.jsonl"
