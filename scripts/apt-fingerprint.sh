#!/bin/sh
# Prints one sha256 over the system's apt configuration, package lists and
# package cache (names, sizes, modes, times and contents): run it before and
# after fetching kernels to show nfscope's own apt state left them untouched.
set -eu
for d in /etc/apt /var/lib/apt/lists /var/cache/apt /var/lib/dpkg/status; do
  [ -e "$d" ] || continue
  find "$d" -xdev \( -type f -o -type l \) -printf '%p %s %m %T@\n' | LC_ALL=C sort
  find "$d" -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
done | sha256sum | cut -d' ' -f1
