#!/usr/bin/env bash
# replay-host.sh - record nfscope commands on this machine (NFSCOPE_RECORD) as fixtures for the
# replay target: test/fixtures/replay/<kernel>/<name>.json.gz (every target call and its answer),
# <name>.stdout.json (what the live run printed), <name>.meta.json (argv, tool versions, kernel),
# and blobs/ (large answers, the BTF, by content). test/unit/replay-commands.test.ts replays them.
# The hook listing is of a throwaway netns with an iptables DROP and a conntrack rule, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent build
kernel=$(uname -r)
dir="test/fixtures/replay/$kernel"
mkdir -p "$dir"
ns="nfscap-$$"
# Each run's stderr in a directory of this script's own (mktemp -d: private, never a path found in /tmp).
errs=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$errs"' EXIT INT TERM
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" iptables -A INPUT -p tcp --dport 2571 -j DROP
ip netns exec "$ns" iptables -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
tools="bpftrace $(bpftrace --version 2>&1 | head -1 | awk '{print $2}'); nft $(nft --version | awk '{print $2}'); iptables $(iptables --version | awk '{print $2, $3}')"

record() { # NAME ARGS...: one live run, recorded
  local name=$1; shift
  rm -f "$dir/$name.json.gz"
  local rc=0
  NFSCOPE_PROBE_CACHE=off NFSCOPE_RECORD="$dir/$name.json.gz" node dist/main.js "$@" > "$dir/$name.stdout.json" 2> "$errs/$name.err" || rc=$?
  # The argv is what the test replays, with --target replay:FILE added.
  node scripts/capture/replay-meta.mjs "$rc" "$kernel" "$tools" "scripts/capture/replay-host.sh: a netns with iptables INPUT DROP tcp 2571 and -m conntrack ESTABLISHED ACCEPT" -- "$@" > "$dir/$name.meta.json"
  echo "recorded $name: exit $rc, $(stat -c %s "$dir/$name.json.gz") bytes"
  [ "$rc" = 0 ] || { echo "its stderr:"; tail -n 20 "$errs/$name.err"; }
}

record doctor doctor --json
record hooks hooks --netns "$ns" --family ipv4 --json
record trace-syn trace-syn --port 2599 --count 1 --json
record graph graph --port 2599 --json
