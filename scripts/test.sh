#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite
# (unit, parser and the end-to-end tests against this machine's real kernel).
# Ends with each file's time (longest first), the count of retried, skipped and
# failed tests, and a plain "N passed, N failed, N skipped" line. Exits with
# vitest's status. (`npm run test:unit` is the quick, pure subset.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p test/artifacts
rm -f test/artifacts/vitest.json test/artifacts/suite-summary.json
rc=0
# vitest 4's JSON report has no retry count and its file times leave out imports and beforeAll:
# test/helpers/summary-reporter.ts writes both to test/artifacts/suite-summary.json.
npx vitest run --reporter=default --reporter=json --outputFile.json=test/artifacts/vitest.json \
  --reporter=./test/helpers/summary-reporter.ts "$@" || rc=$?
node -e '
  const fs = require("fs");
  if (fs.existsSync("test/artifacts/suite-summary.json")) {
    const s = JSON.parse(fs.readFileSync("test/artifacts/suite-summary.json", "utf8"));
    const files = [...s.files].sort((a, b) => b.seconds - a.seconds);
    const total = files.reduce((t, f) => t + f.seconds, 0);
    console.log("\nper file (seconds, longest first):");
    for (const f of files) console.log(`${f.seconds.toFixed(1).padStart(8)}  ${f.file}${f.state === "failed" ? "  FAILED" : ""}`);
    console.log(`${total.toFixed(1).padStart(8)}  total (${(total / 60).toFixed(1)} min)`);
    const tests = files.flatMap((f) => f.tests.map((t) => ({ ...t, file: f.file })));
    const retried = tests.filter((t) => t.retries > 0);
    const skipped = tests.filter((t) => t.state === "skipped" || t.state === "pending");
    const failed = tests.filter((t) => t.state === "failed");
    console.log(`\n${retried.length} retried, ${skipped.length} skipped, ${failed.length} failed`);
    for (const t of retried) console.log(`  retried ${t.retries}x: ${t.file} > ${t.name}`);
    for (const t of failed) console.log(`  failed: ${t.file} > ${t.name}`);
  } else console.log("no test/artifacts/suite-summary.json: the run ended before the reporter wrote it");
' || true
node -e '
  const r = JSON.parse(require("fs").readFileSync("test/artifacts/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$rc"
