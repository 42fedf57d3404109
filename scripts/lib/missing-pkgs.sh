# shellcheck shell=bash
# missing-pkgs.sh - sourced: missing_packages ENTRY... prints, one per line, the
# package of each entry whose program (or file) this machine lacks, for its
# package manager (apt-get, else dnf). ENTRY is program:debian-package:fedora-package;
# a program is looked for on PATH and in /usr/sbin and /sbin, an absolute path
# is a glob that must match a file (a driver, a plugin, GRUB's modules).
# tool_entries FILE prints a list file's entries (scripts/lib/target-tools.list).
missing_packages() {
  local t prog deb fed
  for t in "$@"; do
    IFS=: read -r prog deb fed <<<"$t"
    if [[ "$prog" == /* ]]; then
      compgen -G "$prog" >/dev/null && continue
    else
      { command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] || [ -x "/sbin/$prog" ]; } && continue
    fi
    if command -v apt-get >/dev/null 2>&1; then echo "$deb"; else echo "$fed"; fi
  done
}
tool_entries() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }
