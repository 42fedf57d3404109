#!/usr/bin/env bash
# vagrant.sh ARGS...   vagrant, with libvirt kept inside a network namespace of its own
# vagrant.sh --stop    stop that libvirt, remove nfscope's domains, network and box image, and the namespace
#
# libvirt's networks are a bridge, a dnsmasq and NAT rules. Made by a libvirtd in
# the root namespace they would change this machine's links and firewall; made
# by a libvirtd started inside a namespace they stay there (seen with libvirt
# 9.0, Debian 12). So this wrapper:
#   - creates the namespace (NFSCOPE_VAGRANT_NETNS, default nfscope-vagrant) with
#     only its loopback up, and no link to the root namespace;
#   - starts virtlogd and libvirtd inside it, unless they already run there, and
#     refuses to go on when a libvirtd runs anywhere else (its networks would land
#     in that other namespace);
#   - runs vagrant inside it, with the provider libvirt, and exports the namespace
#     so the Vagrantfile makes ssh reach the VM through it (ProxyCommand: ip netns
#     exec NS nc): `vagrant ssh-config` then works from the root namespace too,
#     which nfscope's --target vagrant uses (NFSCOPE_VAGRANT=this script).
# Run as root. NFSCOPE_VAGRANT_DRIVER: kvm or qemu (TCG, the default here).
# NFSCOPE_BOX: default nfscope/debian12 (scripts/vagrant/local-box.sh).
set -euo pipefail
NS=${NFSCOPE_VAGRANT_NETNS:-nfscope-vagrant}
# A name that starts with a letter or digit: never "." or "..", which name /run/netns itself or its parent.
[[ "$NS" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] || { echo "vagrant.sh: bad namespace name: $NS" >&2; exit 2; }
RUN=/run/nfscope-vagrant
log() { printf 'vagrant.sh: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "vagrant.sh must run as root (network namespace, libvirtd): sudo $0" >&2; exit 1; }
PATH=$PATH:/usr/sbin:/sbin

# Root's private run directory: never one someone else made or a symlink.
umask 077
mkdir -p "$RUN"
if [ -L "$RUN" ] || [ "$(stat -c %u "$RUN")" != 0 ]; then echo "vagrant.sh: $RUN is a symlink or not root's" >&2; exit 1; fi
chmod 700 "$RUN"

ns_inode() { stat -L -c %i "/run/netns/$NS" 2>/dev/null; }
# The namespace is this wrapper's only when it made it: the inode it recorded then ($RUN/netns-NAME).
# One of the same name made by anybody else is neither adopted nor, on --stop, deleted.
OWN="$RUN/netns-$NS"
ours() { [ -f "$OWN" ] && [ -e "/run/netns/$NS" ] && [ "$(cat "$OWN")" = "$(ns_inode)" ]; }
if [ -e "/run/netns/$NS" ] && ! ours; then
  echo "vagrant.sh: a network namespace $NS exists that vagrant.sh did not create; it is left alone (choose another with NFSCOPE_VAGRANT_NETNS)" >&2
  exit 1
fi
[ -e "/run/netns/$NS" ] || rm -f "$OWN"
pid_ns() { stat -L -c %i "/proc/$1/ns/net" 2>/dev/null; }
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null && [ "$(pid_ns "$(cat "$RUN/$1.pid")")" = "$(ns_inode)" ]; }
virsh_ns() { virsh -q -c qemu:///system "$@"; }

stop() {
  if [ -e "/run/netns/$NS" ] && alive libvirtd; then
    # Only what is nfscope's: its domains (the Vagrantfile's prefix nfscope-) and
    # vagrant-libvirt's management network. libvirt's configuration is the
    # machine's: any other domain or network defined there is left alone.
    for d in $(virsh_ns list --all --name 2>/dev/null | grep '^nfscope-' || true); do
      log "domain $d still defined: destroying it"; virsh_ns destroy "$d" >/dev/null 2>&1 || true
      virsh_ns undefine "$d" --remove-all-storage >/dev/null 2>&1 || virsh_ns undefine "$d" >/dev/null 2>&1 || true
    done
    if virsh_ns net-list --all --name 2>/dev/null | grep -qx vagrant-libvirt && ! virsh_ns list --all --name | grep -q .; then
      virsh_ns net-destroy vagrant-libvirt >/dev/null 2>&1 || true; virsh_ns net-undefine vagrant-libvirt >/dev/null 2>&1 || true
    fi
    "$(dirname "$0")/drop-box-image.sh" || true
  fi
  for d in libvirtd virtlogd; do
    if alive "$d"; then
      pid=$(cat "$RUN/$d.pid"); kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do ps -p "$pid" -o stat= | grep -qv '^Z' || break; sleep 0.1; done
    fi
  done
  if [ -e "/run/netns/$NS" ]; then
    # Whatever else still lives in the namespace (dnsmasq, a qemu): ended before it goes.
    for _ in $(seq 50); do [ -z "$(ip netns pids "$NS")" ] && break; sleep 0.1; done
    mapfile -t pids < <(ip netns pids "$NS")
    if [ "${#pids[@]}" -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; sleep 0.5; fi
    mapfile -t pids < <(ip netns pids "$NS")
    if [ "${#pids[@]}" -gt 0 ]; then kill -9 "${pids[@]}" 2>/dev/null || true; sleep 0.2; fi
    ip netns del "$NS"
  fi
  # The pid files are the machine's one libvirt's, whichever namespace it runs in: one whose daemon
  # still runs (in another namespace: the classroom VM's, while a second name is stopped) stays.
  for d in libvirtd virtlogd; do
    if [ -f "$RUN/$d.pid" ] && ps -o stat= -p "$(cat "$RUN/$d.pid")" 2>/dev/null | grep -qv '^Z'; then continue; fi
    rm -f "$RUN/$d.pid"
  done
  rm -f "$OWN"
  log "stopped: namespace $NS and its libvirt are gone"
}

for p in ip vagrant libvirtd virtlogd virsh nc; do
  command -v "$p" >/dev/null 2>&1 || { echo "vagrant.sh: $p is missing (scripts/setup.sh --vagrant installs it)" >&2; exit 1; }
done

if [ "${1:-}" = "--stop" ]; then stop; exit 0; fi

if ! alive libvirtd; then
  other=$(pgrep -x libvirtd || true)
  if [ -n "$other" ]; then
    echo "vagrant.sh: a libvirtd (pid $other) runs outside namespace $NS; its networks would be made where it runs. Stop it first." >&2
    exit 1
  fi
  # A socket systemd listens on for libvirt starts a libvirtd in the root namespace at the first
  # connection (socket activation): virsh would reach that one, and its networks would change this
  # machine's links and firewall. Refused as long as such a socket is listening.
  if command -v systemctl >/dev/null 2>&1; then
    for u in libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket virtqemud.socket virtnetworkd.socket; do
      if systemctl is-active --quiet "$u" 2>/dev/null; then
        echo "vagrant.sh: systemd listens on $u: a connection would start libvirt in the root namespace. Stop it first (systemctl stop $u)." >&2
        exit 1
      fi
    done
  fi
  # Whoever listens on libvirt's socket in this (the root) namespace: a file left by a libvirtd that
  # is gone listens nowhere and does not count.
  if ss -Hxl 2>/dev/null | grep -qF ' /run/libvirt/libvirt-sock '; then
    echo "vagrant.sh: something listens on /run/libvirt/libvirt-sock in the root namespace (a libvirt, or its socket activation): virsh would reach it. Stop it first." >&2
    exit 1
  fi
fi
if [ ! -e "/run/netns/$NS" ]; then
  ip netns add "$NS"
  ns_inode > "$OWN.tmp" && mv -f "$OWN.tmp" "$OWN"
  ip -n "$NS" link set lo up
  log "namespace $NS created (stop everything with: $0 --stop)"
fi
if ! alive libvirtd; then
  alive virtlogd || ip netns exec "$NS" virtlogd -d -p "$RUN/virtlogd.pid"
  ip netns exec "$NS" libvirtd -d -p "$RUN/libvirtd.pid"
  for _ in $(seq 100); do virsh_ns version >/dev/null 2>&1 && break; sleep 0.2; done
  virsh_ns version >/dev/null 2>&1 || { echo "vagrant.sh: libvirtd did not answer" >&2; exit 1; }
  log "libvirtd started in namespace $NS"
fi

export NFSCOPE_VAGRANT_NETNS="$NS"
# The box this set-up can boot: the one built by local-box.sh (no box can be downloaded here).
export NFSCOPE_BOX=${NFSCOPE_BOX:-nfscope/debian12}
export NFSCOPE_VAGRANT_DRIVER=${NFSCOPE_VAGRANT_DRIVER:-qemu}
export VAGRANT_DEFAULT_PROVIDER=libvirt
exec ip netns exec "$NS" vagrant "$@"
