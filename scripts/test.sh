#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite
# (unit, parser and the end-to-end tests against this machine's real kernel).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npx vitest run "$@"
