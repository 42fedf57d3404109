#!/usr/bin/env bash
# capture/kconfig.sh - test/fixtures/kconfig/<kernel>/config.txt: the lines of each cached Debian
# kernel's own /boot/config-<version> (from its package, in nfscope's kernel cache) that decide
# where struct nf_conn's layout comes from (parsers/kconfig.ts NF_CONN_BTF_OPTIONS), with
# meta.json beside them. Fetch a kernel first with `nfscope vm run --kernel 5.10 -- true` (or any
# command that boots it). Usage: scripts/capture/kconfig.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${NFSCOPE_CACHE:-/var/cache/nfscope}/kernels"
for k in "$cache"/*/kernel.json; do
  version=$(node -p "require('$k').version")
  config=$(node -p "require('$k').config")
  [ -f "$config" ] || continue
  out="test/fixtures/kconfig/$version"
  mkdir -p "$out"
  pattern='^(# )?(CONFIG_NF_CONNTRACK|CONFIG_DEBUG_INFO_BTF|CONFIG_DEBUG_INFO_BTF_MODULES)[= ]'
  grep -E "$pattern" "$config" > "$out/config.txt"
  node -e '
    const k = require(process.argv[1]);
    const meta = { argv: `grep -E ${JSON.stringify(process.argv[2])} /boot/config-${k.version}`, package: k.package, debVersion: k.debVersion,
      suite: k.suite, kernel: k.version, tool: "Debian package linux-image (its /boot/config)", captured: new Date().toISOString() };
    require("fs").writeFileSync(process.argv[3], JSON.stringify(meta, null, 2) + "\n");
  ' "$k" "$pattern" "$out/meta.json"
  echo "$out"
done
