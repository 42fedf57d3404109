#!/usr/bin/env bash
# setup.sh - install what nfscope needs on a fresh Debian 12+ or Fedora machine,
# idempotently: system tools (apt-get or dnf), then npm dependencies and the build.
# Run as root. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh must run as root (it installs system packages): sudo $0" >&2
  exit 1
fi

# shellcheck source=scripts/lib/missing-pkgs.sh
. scripts/lib/missing-pkgs.sh
# What a target needs (scripts/lib/target-tools.list), then what this machine needs
# to build, boot and reach the other targets: program:debian-package:fedora-package.
mapfile -t TOOLS < <(tool_entries scripts/lib/target-tools.list)
TOOLS+=(
  qemu-system-x86_64:qemu-system-x86:qemu-system-x86-core
  busybox:busybox-static:busybox
  depmod:kmod:kmod
  cpio:cpio:cpio
  xz:xz-utils:xz
  zstd:zstd:zstd
  setpriv:util-linux:util-linux
  flock:util-linux:util-linux
  objcopy:binutils:binutils
  ar:binutils:binutils
  ssh:openssh-client:openssh-clients
  sshd:openssh-server:openssh-server
  vagrant:vagrant:vagrant
  # The classroom VM built and booted here (scripts/vagrant/: local-box.sh, vagrant.sh, cycle.sh).
  libvirtd:libvirt-daemon-system:libvirt-daemon
  virsh:libvirt-clients:libvirt-client
  /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so:libvirt-daemon-driver-qemu:libvirt-daemon-driver-qemu
  /usr/share/rubygems-integration/all/gems/vagrant-libvirt-*:vagrant-libvirt:vagrant-libvirt
  dnsmasq:dnsmasq-base:dnsmasq
  nc:netcat-openbsd:nmap-ncat
  mmdebstrap:mmdebstrap:mmdebstrap
  sfdisk:fdisk:util-linux
  qemu-img:qemu-utils:qemu-img
  grub-mkimage:grub2-common:grub2-tools
  /usr/lib/grub/i386-pc/boot.img:grub-pc-bin:grub2-pc-modules
  shellcheck:shellcheck:ShellCheck
  git:git:git
  chromium:chromium:chromium
  # Tests: strace holds bpftrace's polls (tracer-stop), podman runs a container (--netns podman:NAME),
  # ipvsadm adds an IPVS service in the micro-VM (IPVS registers its hooks with the first one).
  strace:strace:strace
  podman:podman:podman
  ipvsadm:ipvsadm:ipvsadm
)

mapfile -t missing_pkgs < <(missing_packages "${TOOLS[@]}" | awk '!seen[$0]++')

# Kernels of other Debian suites (--kernel 5.10|6.12|latest) come through nfscope's own apt
# state, its sources signed-by the archive keyring.
if command -v apt-get >/dev/null 2>&1 && [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  missing_pkgs+=(debian-archive-keyring)
fi

command -v node >/dev/null 2>&1 || missing_pkgs+=(nodejs npm)

# A policy-rc.d of a setup.sh that was killed (it says no only while its writer runs): removed.
policy=/usr/sbin/policy-rc.d
if [ -f "$policy" ] && grep -q '^# nfscope setup.sh' "$policy"; then
  rc=0; sh "$policy" >/dev/null 2>&1 || rc=$?
  if [ "$rc" != 101 ]; then rm -f "$policy"; log "removed a policy-rc.d left by a setup.sh that is gone"; fi
fi

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  log "installing: ${missing_pkgs[*]}"
  # No service may start from a package's install script (openssh-server
  # would leave an sshd on port 22, libvirt-daemon-system a libvirtd in the root
  # namespace): policy-rc.d says no for the duration.
  # It says no only while this setup.sh runs (its pid and start time, in /proc), so one left by a
  # killed setup.sh blocks no service for good; the next setup.sh removes such a one.
  created_policy=""
  if command -v apt-get >/dev/null 2>&1 && [ ! -e "$policy" ]; then
    start=$(sed 's/.*) //' "/proc/$$/stat" | cut -d' ' -f20)
    # shellcheck disable=SC2016 # the $(...) is the policy script's own, run by invoke-rc.d later
    printf '#!/bin/sh\n# nfscope setup.sh (pid %s, started at tick %s): no service starts while it installs\n[ "$(sed '"'"'s/.*) //'"'"' /proc/%s/stat 2>/dev/null | cut -d'"'"' '"'"' -f20)" = "%s" ] && exit 101\nexit 0\n' \
      "$$" "$start" "$$" "$start" > "$policy.tmp.$$" && chmod +x "$policy.tmp.$$" && mv -f "$policy.tmp.$$" "$policy" && created_policy=1
  fi
  trap '[ -n "$created_policy" ] && rm -f "$policy"' EXIT
  # Stale or missing package lists get one refresh and one more try (scripts/lib/pkg-install.sh).
  scripts/lib/pkg-install.sh "${missing_pkgs[@]}"
else
  log "system tools: all present"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup.sh: nfscope needs Node.js 20 or newer; this machine has $(node --version)." >&2
  echo "  Install Node 20+ (e.g. Fedora 39+: dnf install nodejs20; Debian: NodeSource or nvm), then run again." >&2
  exit 1
fi

# npm dependencies: install when the lock file changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-fund --no-audit --loglevel=error
fi
log "build"
npm run --silent build
chmod +x dist/main.js
log "ready: node dist/main.js --help"
