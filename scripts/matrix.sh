#!/bin/sh
# The lab on every kernel of the matrix (5.10, 6.1, 6.12, latest) in the micro-VM;
# one table of kernel × claim with boot and lab times. See scripts/matrix.mjs.
# Usage (root): scripts/matrix.sh [--kernels 5.10,6.1] [--json] [--capture test/fixtures] [--out DIR]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$here/dist/main.js" ] || (cd "$here" && npm run build >/dev/null)
exec node "$here/scripts/matrix.mjs" "$@"
