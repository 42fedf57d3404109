#!/usr/bin/env bash
# quickstart.sh - the main job on a fresh machine: install what is missing,
# build, then show what this kernel can do and its netfilter hooks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
node dist/main.js doctor
node dist/main.js hooks --family all
