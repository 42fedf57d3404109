#!/usr/bin/env bash
# quickstart.sh - the main job on a fresh machine: install what is missing,
# build, show what this kernel can do, then run the lab: the dropped-SYN
# experiment, every claim judged from evidence, where every step can be
# observed (this kernel if it has kprobes and function_graph, else the qemu
# micro-VM, which downloads a Debian kernel package on its first run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
node dist/main.js doctor
node dist/main.js lab "$@"
