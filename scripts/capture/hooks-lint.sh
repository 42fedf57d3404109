#!/usr/bin/env bash
# hooks-lint.sh - the hook lint's inputs as fixtures for the fast tier (test/unit/hooks-lint.test.ts):
# runs test/e2e/hooks-lint.host.test.ts, whose every `hooks --lint` call keeps the hook table,
# `nft -j list ruleset` and the iptables-legacy saves it read, with meta.json (argv, tool versions,
# kernel), under test/fixtures/hooks-lint/<kernel>/<case>/. Root, this machine's kernel.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "hooks-lint.sh: run as root" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Into a private directory first: the listing backend keeps its own bpftrace fixture under the
# same variable, which is not wanted here.
NFSCOPE_CAPTURE_DIR=$tmp \
NFSCOPE_CAPTURE_SETUP="a netns built by test/e2e/hooks-lint.host.test.ts for the case of this name" \
  npx vitest run test/e2e/hooks-lint.host.test.ts
mkdir -p test/fixtures/hooks-lint
cp -r "$tmp/hooks-lint/." test/fixtures/hooks-lint/
ls test/fixtures/hooks-lint/*/
