#!/usr/bin/env bash
# pkg-install.sh PKG... - install packages with apt-get or dnf; when the first
# try fails because the package lists are missing or stale (a machine imaged
# weeks ago: "Depends: libarchive13 (= …deb12u4) but …deb12u5 is to be
# installed", "Unable to locate package", 404s for superseded .debs), refresh
# them and try once more, saying so. Used by setup.sh.
# NFSCOPE_APT_OPTS: extra apt options, split on spaces (the retry test points
# apt at a private configuration with no lists, and downloads only).
set -euo pipefail
log() { printf 'setup: %s\n' "$*" >&2; }
[ "$#" -gt 0 ] || exit 0
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  read -r -a apt_opts <<<"${NFSCOPE_APT_OPTS:-}"
  if ! apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "$@"; then
    log "install failed: the package lists may be stale; running apt-get update and trying once more"
    apt-get "${apt_opts[@]}" update -q
    apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "$@"
  fi
elif command -v dnf >/dev/null 2>&1; then
  if ! dnf install -y "$@"; then
    log "install failed: the metadata may be stale; refreshing it and trying once more"
    dnf makecache --refresh -y
    dnf install -y --refresh "$@"
  fi
else
  echo "setup.sh: neither apt-get nor dnf found; install by hand: $*" >&2
  exit 1
fi
