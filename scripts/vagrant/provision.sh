#!/usr/bin/env bash
# provision.sh - the classroom VM (Vagrantfile): the tools nfscope drives,
# Node.js 20+, and nfscope from /opt/nfscope. Idempotent: installs only what is
# missing, with dnf (the Fedora box) or apt-get (Debian boxes, nfscope/debian12
# among them, which has everything already and no registry to ask).
set -euo pipefail
log() { printf 'provision: %s\n' "$*" >&2; }

# program:debian-package:fedora-package
TOOLS=(
  bpftrace:bpftrace:bpftrace
  trace-cmd:trace-cmd:trace-cmd
  conntrack:conntrack:conntrack-tools
  nft:nftables:nftables
  iptables:iptables:iptables-nft
  ip:iproute2:iproute
  nsenter:util-linux:util-linux
  drgn:python3-drgn:drgn
  python3:python3:python3
  rsync:rsync:rsync
)
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
if have dnf; then pm=dnf; elif have apt-get; then pm=apt; else echo "provision: neither dnf nor apt-get" >&2; exit 1; fi

missing=()
for t in "${TOOLS[@]}"; do
  IFS=: read -r prog deb fed <<<"$t"
  have "$prog" || { [ "$pm" = dnf ] && missing+=("$fed") || missing+=("$deb"); }
done
node_ok() { have node && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; }
node_ok || missing+=(nodejs npm)

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  if [ "$pm" = dnf ]; then
    dnf install -y --setopt=install_weak_deps=False "${missing[@]}" dnf-plugins-core
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" || { apt-get update -q; apt-get install -y -q --no-install-recommends "${missing[@]}"; }
  fi
else
  log "tools: all present"
fi
node_ok || { echo "provision: nfscope needs Node.js 20 or newer; this box has $(node --version 2>&1)" >&2; exit 1; }

# drgn needs the running kernel's DWARF; on Fedora it comes from the debuginfo repos.
if [ "$pm" = dnf ] && ! rpm -q "kernel-debuginfo-$(uname -r)" >/dev/null 2>&1; then
  dnf debuginfo-install -y "kernel-core-$(uname -r)" || \
    log "kernel debuginfo not installed; nfscope hooks --backend drgn will say so"
fi

cd /opt/nfscope
# The offline box gets node_modules and dist with the synced folder (Vagrantfile);
# elsewhere they are made here.
if [ ! -d node_modules ]; then npm ci --no-fund --no-audit --loglevel=error; fi
if [ ! -f dist/main.js ]; then npm run --silent build; fi
chmod +x dist/main.js
ln -sf /opt/nfscope/dist/main.js /usr/local/bin/nfscope
nfscope doctor
