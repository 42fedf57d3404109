#!/usr/bin/env bash
# provision.sh - the classroom VM (Vagrantfile): the tools nfscope drives,
# Node.js 20+, and nfscope from /opt/nfscope. Idempotent: installs only what is
# missing, with dnf (the Fedora box) or apt-get (Debian boxes, nfscope/debian12
# among them, which has everything already and no registry to ask).
set -euo pipefail
log() { printf 'provision: %s\n' "$*" >&2; }
# The synced folder is in place before provisioners run (rsync at `up`): the
# tool list and the installer are nfscope's own (scripts/lib/).
ROOT=/opt/nfscope
# shellcheck source=scripts/lib/missing-pkgs.sh
. "$ROOT/scripts/lib/missing-pkgs.sh"

# What a target needs, and rsync for the synced folder.
mapfile -t TOOLS < <(tool_entries "$ROOT/scripts/lib/target-tools.list")
mapfile -t missing < <(missing_packages "${TOOLS[@]}" rsync:rsync:rsync)
node_ok() { command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; }
node_ok || missing+=(nodejs npm)
if command -v dnf >/dev/null 2>&1 && ! rpm -q dnf-plugins-core >/dev/null 2>&1; then missing+=(dnf-plugins-core); fi

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  # apt-get or dnf, with one refresh of stale package lists.
  "$ROOT/scripts/lib/pkg-install.sh" "${missing[@]}"
else
  log "tools: all present"
fi
node_ok || { echo "provision: nfscope needs Node.js 20 or newer; this box has $(node --version 2>&1)" >&2; exit 1; }

# drgn needs the running kernel's DWARF; on Fedora it comes from the debuginfo repos.
if command -v dnf >/dev/null 2>&1 && ! rpm -q "kernel-debuginfo-$(uname -r)" >/dev/null 2>&1; then
  dnf debuginfo-install -y "kernel-core-$(uname -r)" || \
    log "kernel debuginfo not installed; nfscope hooks --backend drgn will say so"
fi

cd "$ROOT"
# The offline box gets node_modules and dist with the synced folder (Vagrantfile);
# elsewhere they are made here.
if [ ! -d node_modules ] && [ "${NFSCOPE_OFFLINE_BOX:-0}" = 1 ]; then
  echo "provision: /opt/nfscope has no node_modules and this box has no registry: run scripts/setup.sh on the host, then vagrant provision" >&2
  exit 1
fi
if [ ! -d node_modules ]; then npm ci --no-fund --no-audit --loglevel=error; fi
if [ ! -f dist/main.js ]; then npm run --silent build; fi
chmod +x dist/main.js
ln -sf "$ROOT/dist/main.js" /usr/local/bin/nfscope
nfscope doctor
