#!/usr/bin/env bash
# hooks-bpf-host.sh - record a real listing of BPF netfilter links (6.4+) and its BPF walk as parser
# fixtures: a throwaway netns with two links made by test/helpers/bpf-nf-link.py (ipv4 LOCAL_IN
# -123 "nfscope_v4", ipv6 PRE_ROUTING -301 "nfscope.v6"), then `nfscope hooks --family all` under
# NFSCOPE_CAPTURE_DIR: test/fixtures/bpftrace{,-bpf}/<kernel>/bpf-links/. Removes what it made on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ns="nfscap-bpf-$$"
tmp=$(mktemp -d)
# The loaders keep their links while their stdin, a FIFO this script holds open (fd 3), has a writer:
# closing fd 3 ends them (they must not inherit it: 3>&-).
loaders=()
cleanup() {
  exec 3>&- || true
  # By pid as well: a loader forked but not yet at the FIFO's open would wait there for a writer.
  for p in "${loaders[@]}"; do kill "$p" 2>/dev/null || true; done
  wait
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkfifo "$tmp/hold"
exec 3<>"$tmp/hold"
ip netns add "$ns"
declare -A ids
link() {
  ip netns exec "$ns" python3 test/helpers/bpf-nf-link.py "$@" <"$tmp/hold" >"$tmp/$4" 3>&- &
  loaders+=($!)
  for _ in $(seq 100); do grep -q READY "$tmp/$4" && break; sleep 0.1; done
  read -r ready id <"$tmp/$4" || true
  [ "${ready:-}" = READY ] || { echo "bpf-nf-link.py $*: not ready after 10 s" >&2; exit 1; }
  ids[$4]=$id
}
link 2 1 -123 nfscope_v4
link 10 0 -301 nfscope.v6
NFSCOPE_CAPTURE_DIR=test/fixtures NFSCOPE_CAPTURE_CASE=bpf-links \
NFSCOPE_CAPTURE_SETUP="a netns: BPF netfilter links (test/helpers/bpf-nf-link.py): ipv4 LOCAL_IN -123 prog ${ids[nfscope_v4]} nfscope_v4, ipv6 PRE_ROUTING -301 prog ${ids[nfscope.v6]} nfscope.v6" \
  node dist/main.js hooks --netns "$ns" --family all --backend bpftrace
