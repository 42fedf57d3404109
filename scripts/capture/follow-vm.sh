#!/usr/bin/env bash
# capture/follow-vm.sh - follow's raw events in the micro-VM as fixtures: runs
# test/e2e/guest/follow-cases.sh --capture on a kernel and unpacks what each case
# kept (events.jsonl: every line each source printed with the time follow got it;
# context.json; packets.jsonl: what follow made of them; meta.json) into
# test/fixtures/follow/<release>/<case>/.
# Usage: scripts/capture/follow-vm.sh [KERNEL [CASES]]     (default 6.1, every case; root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
k=${1:-6.1}
cases=${2:-}
out=$(node "$root/dist/main.js" vm run --kernel "$k" -- env ${cases:+NFSCOPE_FOLLOW_CASES="$cases"} bash /opt/nfscope/test/e2e/guest/follow-cases.sh --capture)
b64=$(printf '%s\n' "$out" | sed -n '/^=== CAPTURE$/,/^=== END$/p' | sed '1d;$d')
[ -n "$b64" ] || { echo "no capture in the output" >&2; printf '%s\n' "$out" | tail -20 >&2; exit 1; }
mkdir -p "$root/test/fixtures"
printf '%s' "$b64" | base64 -d | tar -C "$root/test/fixtures" -xz
printf '%s\n' "$out" | grep '^=== ' | grep -v CAPTURE
