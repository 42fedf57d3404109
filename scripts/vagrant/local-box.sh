#!/usr/bin/env bash
# local-box.sh [--force] - build and register the libvirt box `nfscope/debian12`
# from Debian's packages alone (no box can be downloaded where this was written):
#
#   a raw disk (one ext4 partition, GRUB in the MBR) holding Debian 12 made by
#   mmdebstrap, with bookworm's newest kernel (kprobes, function_graph, modules),
#   ssh, sudo, rsync, every tool nfscope drives, this machine's Node.js, and the
#   user `vagrant` with Vagrant's insecure key (Vagrant replaces it on first boot);
#   converted to qcow2, packed as a .box and added with `vagrant box add`.
#
# Idempotent and cached: the box is rebuilt only when its inputs change (this
# script, the Node.js it copies) or with --force. Prints its own time.
# Run as root (mmdebstrap's root mode, file ownership); no loop device nor mount.
#
# NFSCOPE_BOX_CACHE  where the built box is kept (default /var/cache/nfscope/vagrant)
# NFSCOPE_MIRROR     Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
start=$(date +%s.%N)
log() { printf 'local-box: %s\n' "$*" >&2; }
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

force=""
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "local-box.sh must run as root (loop device, mount): sudo $0" >&2; exit 1; }

BOX_NAME=nfscope/debian12
MIRROR=${NFSCOPE_MIRROR:-http://deb.debian.org/debian}
CACHE=${NFSCOPE_BOX_CACHE:-/var/cache/nfscope/vagrant}
DISK_GB=12
# What a target needs (scripts/lib/target-tools.list, Debian's column), what
# Vagrant needs of a guest (rsync for the synced folder, dbus for hostnamectl,
# sudo, ssh), and a kernel with kprobes, function_graph and modules.
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/lib/missing-pkgs.sh
. "$root/scripts/lib/missing-pkgs.sh"
mapfile -t PACKAGES < <(tool_entries "$root/scripts/lib/target-tools.list" | cut -d: -f2 | sort -u)
PACKAGES+=(
  linux-image-amd64 systemd-sysv dbus udev kmod procps openssh-server sudo rsync
  binutils zstd xz-utils cpio
)

for p in mmdebstrap qemu-img sfdisk mkfs.ext4 grub-mkimage vagrant node; do
  command -v "$p" >/dev/null 2>&1 || { echo "local-box.sh: $p is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
[ -d /usr/lib/grub/i386-pc ] || { echo "local-box.sh: GRUB's BIOS modules are missing (apt-get install grub-pc-bin)" >&2; exit 1; }

# The cache is root's alone: never reuse a directory or file someone else made.
umask 077
mkdir -p "$CACHE"
if [ -L "$CACHE" ] || [ "$(stat -c %u "$CACHE")" != 0 ]; then
  echo "local-box.sh: $CACHE is a symlink or not root's; refusing it" >&2; exit 1
fi
chmod 700 "$CACHE"

# The box's identity: the recipe (this script) and the Node.js binary copied in.
key=$( { cat "$0"; printf '%s\n' "${PACKAGES[@]}" "$MIRROR"; sha256sum "$(readlink -f "$(command -v node)")"; } | sha256sum | cut -c1-16)
box="$CACHE/nfscope-debian12-$key.box"
# Which build vagrant has registered: kept in root's private cache, never written through $HOME
# (under sudo it can be a user's directory); vagrant's own box directory is only looked at.
stamp="$CACHE/registered.key"
registered="${VAGRANT_HOME:-$HOME/.vagrant.d}/boxes/nfscope-VAGRANTSLASH-debian12/0/libvirt"

if [ -z "$force" ] && [ -f "$box" ] && [ -d "$registered" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  log "cached: $BOX_NAME ($key) is registered; nothing to do ($(elapsed) s)"
  exit 0
fi

work=$(mktemp -d "$CACHE/build.XXXXXX")
mnt="$work/root"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "local-box.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM HUP

if [ -n "$force" ] || [ ! -f "$box" ]; then
  log "building $BOX_NAME ($key) in $work"
  # The Debian tree, cached by its package list: a rebuild that changes only
  # the configuration below starts from it.
  pkgkey=$(printf '%s\n' "${PACKAGES[@]}" "$MIRROR" | sha256sum | cut -c1-16)
  tree="$CACHE/rootfs-$pkgkey.tar"
  if [ ! -f "$tree" ]; then
    log "mmdebstrap bookworm (+security, +updates): ${PACKAGES[*]}"
    inc=$(IFS=,; echo "${PACKAGES[*]}")
    # shellcheck disable=SC2016 # $1 is mmdebstrap's, expanded by the hook's shell
    mmdebstrap --mode=root --variant=minbase --include="$inc" \
      --customize-hook='echo nfscope-lab > "$1/etc/hostname"' \
      bookworm "$work/rootfs.tar" \
      "deb $MIRROR bookworm main" \
      "deb $MIRROR bookworm-updates main" \
      "deb ${MIRROR%/debian}/debian-security bookworm-security main" >"$work/mmdebstrap.log" 2>&1 \
      || { tail -30 "$work/mmdebstrap.log" >&2; exit 1; }
    mv -f "$work/rootfs.tar" "$tree"
    find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -name "$(basename "$tree")" -delete
  else
    log "Debian tree from the cache ($(basename "$tree"))"
  fi
  mkdir "$mnt"
  tar -C "$mnt" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tree"

  log "configuring the guest"
  # The guest's files are world-readable as Debian's are (systemd-networkd runs as
  # its own user); only the cache around them is private.
  umask 022
  chmod 644 "$mnt/etc/hostname"
  cat > "$mnt/etc/fstab" <<'EOT'
LABEL=nfscope-root / ext4 errors=remount-ro 0 1
EOT
  # DHCP on the first NIC, whatever it is called (vagrant-libvirt's management network).
  mkdir -p "$mnt/etc/systemd/network"
  cat > "$mnt/etc/systemd/network/80-dhcp.network" <<'EOT'
[Match]
Name=en* eth*
[Network]
DHCP=yes
EOT
  chroot "$mnt" systemctl enable systemd-networkd.service >/dev/null 2>&1
  chroot "$mnt" systemctl enable ssh.service >/dev/null 2>&1
  # Vagrant's user: password-less sudo, the insecure key (replaced on first `vagrant up`).
  chroot "$mnt" useradd -m -s /bin/bash vagrant
  echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$mnt/etc/sudoers.d/vagrant"
  chmod 440 "$mnt/etc/sudoers.d/vagrant"
  vuid=$(chroot "$mnt" id -u vagrant); vgid=$(chroot "$mnt" id -g vagrant)
  install -d -m 700 -o "$vuid" -g "$vgid" "$mnt/home/vagrant/.ssh"
  key_pub=$(find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant -path '*keys/vagrant.pub' 2>/dev/null | head -1 || true)
  [ -n "$key_pub" ] || { echo "local-box.sh: Vagrant's insecure public key (keys/vagrant.pub) not found" >&2; exit 1; }
  install -m 600 -o "$vuid" -g "$vgid" "$key_pub" "$mnt/home/vagrant/.ssh/authorized_keys"
  echo 'UseDNS no' > "$mnt/etc/ssh/sshd_config.d/vagrant.conf"
  # SSH host keys of each VM's own, made at its first boot: the cached Debian tree's (made when
  # openssh-server was installed into it) would be every box's and every VM's alike.
  rm -f "$mnt"/etc/ssh/ssh_host_*
  cat > "$mnt/etc/systemd/system/nfscope-ssh-hostkeys.service" <<'EOT'
[Unit]
Description=SSH host keys of this VM, made at its first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
EOT
  chroot "$mnt" systemctl enable nfscope-ssh-hostkeys.service >/dev/null 2>&1
  # Node.js 20+ (bookworm has 18): this machine's, binary and npm, as nfscope needs it.
  node_bin=$(readlink -f "$(command -v node)")
  install -m 755 "$node_bin" "$mnt/usr/local/bin/node"
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  if [ -f "$npm_dir/package.json" ]; then
    mkdir -p "$mnt/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  fi
  chroot "$mnt" /usr/local/bin/node --version >/dev/null
  rm -f "$mnt/var/cache/apt/archives/"*.deb
  kernel=$(basename "$(readlink -f "$mnt/vmlinuz")")

  # GRUB without grub-install (it wants a partition device, and this machine's
  # loop devices have no partition scan): the modules on the filesystem, a
  # core image whose prefix is the first partition, boot.img in the MBR's code
  # area. grub-mkimage sets core.img's own block list to its length from
  # sector 2, and boot.img's kernel sector is 1: core.img goes at sector 1.
  mkdir -p "$mnt/boot/grub/i386-pc"
  cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$mnt/boot/grub/i386-pc/"
  cat > "$mnt/boot/grub/grub.cfg" <<'EOT'
set timeout=0
search --no-floppy --label nfscope-root --set=root
menuentry "Debian 12 (nfscope)" {
  linux /vmlinuz root=LABEL=nfscope-root ro console=tty0 console=ttyS0,115200 net.ifnames=0
  initrd /initrd.img
}
EOT
  grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
    biosdisk part_msdos ext2 search search_label linux normal configfile
  core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
  [ "$core_sectors" -lt 2048 ] || { echo "local-box.sh: core.img is $core_sectors sectors; the gap holds 2047" >&2; exit 1; }

  raw="$work/disk.raw"
  truncate -s "${DISK_GB}G" "$raw"
  # One bootable partition from 1 MiB: the gap before it holds core.img.
  printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$raw"
  part_kib=$(( DISK_GB * 1024 * 1024 - 1024 ))
  log "ext4 from the tree (mke2fs -d, no mount)"
  mkfs.ext4 -q -F -L nfscope-root -E offset=1048576 -d "$mnt" "$raw" "${part_kib}k"
  dd if=/usr/lib/grub/i386-pc/boot.img of="$raw" bs=440 count=1 conv=notrunc status=none
  dd if="$work/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none
  rm -rf "$mnt"

  log "qcow2 and box ($kernel)"
  qemu-img convert -O qcow2 "$raw" "$work/box.img"
  rm -f "$raw"
  cat > "$work/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $DISK_GB}
EOF
  cat > "$work/Vagrantfile" <<'EOF'
# nfscope/debian12: built by nfscope's scripts/vagrant/local-box.sh.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
  echo "$key $kernel" > "$work/nfscope-box.txt"
  tar -C "$work" -cf "$work/new.box" metadata.json Vagrantfile box.img nfscope-box.txt
  mv -f "$work/new.box" "$box"
  # Older builds of the box: only the newest is kept.
  find "$CACHE" -maxdepth 1 -name 'nfscope-debian12-*.box' ! -name "$(basename "$box")" -delete
fi

log "vagrant box add $BOX_NAME"
vagrant box add --force --name "$BOX_NAME" "$box" >"$work/box-add.log" 2>&1 || { cat "$work/box-add.log" >&2; exit 1; }
echo "$key" > "$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
log "done: $BOX_NAME ($key) in $(elapsed) s"
