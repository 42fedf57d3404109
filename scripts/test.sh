#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite
# (unit, parser and the end-to-end tests against this machine's real kernel).
# Ends with a plain "N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p test/artifacts
rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json=test/artifacts/vitest.json "$@" || rc=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("test/artifacts/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$rc"
