#!/usr/bin/env bash
# replay-vm.sh - record the commands that need kprobes (lab, lifetimes, follow) in the micro-VM
# (--target qemu, Debian 6.1 by default) as fixtures for the replay target, as replay-host.sh does
# for this machine: test/fixtures/replay/<guest kernel>/<name>.{json.gz,stdout.json,meta.json} and
# blobs/. The meta's argv is the command's without --target: the test adds --target replay:FILE.
# The VM is fresh each run: lifetimes finds conntrack not loaded (its not-observable report), follow
# sees no packet in 2 s (its sources, attached and stopped); the lab makes its own traffic.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent build
kernel_alias=${1:-6.1}
errs=$(mktemp -d)
trap 'rm -rf "$errs"' EXIT
trap 'exit 130' INT TERM
dir=""

record() { # NAME ARGS...: one live run in the VM, recorded
  local name=$1; shift
  local rc=0
  NFSCOPE_PROBE_CACHE=off NFSCOPE_RECORD="$errs/$name.json.gz" node dist/main.js "$@" --target qemu > "$errs/$name.stdout.json" 2> "$errs/$name.err" || rc=$?
  local kernel
  # One JSON document (lab, lifetimes) or NDJSON whose last line is the summary (follow).
  kernel=$(node -e 'const t = require("fs").readFileSync(process.argv[1], "utf8").trim(); let o; try { o = JSON.parse(t); } catch { o = JSON.parse(t.split("\n").pop()); } console.log(o.kernel)' "$errs/$name.stdout.json")
  dir="test/fixtures/replay/$kernel"
  mkdir -p "$dir/blobs"
  cp "$errs/$name.json.gz" "$dir/$name.json.gz"
  cp "$errs/$name.stdout.json" "$dir/$name.stdout.json"
  # Large answers (the kernel's BTF) sit beside the recording, by content (a blob already there is the same content).
  if [ -d "$errs/blobs" ]; then cp -n -- "$errs"/blobs/* "$dir/blobs/"; fi
  local tools
  tools=$(node -e 'const e = JSON.parse(require("zlib").gunzipSync(require("fs").readFileSync(process.argv[1])).toString()).events;
    const calls = new Map(e.filter((x) => x.t === "call").map((x) => [x.id, x]));
    const out = e.filter((x) => x.t === "done" && /"--version"\]/.test(JSON.stringify(calls.get(x.id)?.args ?? [])) && x.result?.stdout).map((x) => x.result.stdout.split("\n")[0].trim());
    console.log([...new Set(out)].join("; "))' "$dir/$name.json.gz")
  node scripts/capture/replay-meta.mjs "$rc" "$kernel" "$tools" "scripts/capture/replay-vm.sh: a fresh micro-VM (--target qemu), nothing loaded before the command" -- "$@" > "$dir/$name.meta.json"
  echo "recorded $name on $kernel: exit $rc, $(stat -c %s "$dir/$name.json.gz") bytes"
  [ "$rc" = 0 ] || { echo "its stderr:"; tail -n 20 "$errs/$name.err"; }
}

record lab lab --json --kernel "$kernel_alias"
record lifetimes lifetimes --port 2599 --duration 1 --json --kernel "$kernel_alias"
record follow follow --port 2599 --duration 2 --json --kernel "$kernel_alias"
