#!/usr/bin/env bash
# provision.sh - the Fedora classroom VM (Vagrantfile): tools, kernel
# debuginfo for drgn, Node.js, and nfscope from /opt/nfscope. Idempotent.
set -euo pipefail
dnf install -y --setopt=install_weak_deps=False \
  bpftrace trace-cmd conntrack-tools nftables iptables-nft iproute util-linux \
  drgn python3 nodejs npm dnf-plugins-core
# drgn needs the running kernel's DWARF (kernel-debuginfo, from the debuginfo repos).
dnf debuginfo-install -y "kernel-core-$(uname -r)" || \
  echo "provision: kernel debuginfo not installed; nfscope hooks --backend drgn will say so"
cd /opt/nfscope
npm ci --no-fund --no-audit --loglevel=error
npm run --silent build
chmod +x dist/main.js
ln -sf /opt/nfscope/dist/main.js /usr/local/bin/nfscope
nfscope doctor
