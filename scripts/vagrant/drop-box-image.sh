#!/usr/bin/env bash
# drop-box-image.sh - delete the image of the box nfscope/debian12 that
# vagrant-libvirt uploads into libvirt's pool on the first `up` and keeps after
# `destroy` (its base-box cache): after `vagrant destroy` nothing of nfscope's
# is left in `virsh vol-list`. Run by the Vagrantfile's trigger after destroy
# (the local box only) and by vagrant.sh --stop. The image backs every VM made
# from the box, so it stays while any domain of nfscope's (nfscope-*) exists.
set -euo pipefail
virsh_() { virsh -q -c qemu:///system "$@"; }
if virsh_ list --all --name | grep -q '^nfscope-'; then
  echo "drop-box-image: a domain of nfscope's still exists; the box image stays" >&2
  exit 0
fi
for p in $(virsh_ pool-list --all --name); do
  for v in $(virsh_ vol-list "$p" | awk '$1 ~ /^nfscope-VAGRANTSLASH-debian12_vagrant_box_image/ { print $1 }'); do
    virsh_ vol-delete --pool "$p" "$v" >/dev/null
    echo "drop-box-image: deleted $p/$v" >&2
  done
done
