#!/usr/bin/env bash
# grep-files.sh - fixtures for parsers/grep-files.ts: the one-command read of every writable
# net.netfilter sysctl that tools/sysctl.ts runs, plus one path that does not exist (a sysctl
# whose module went between the listing and the read), on this machine's kernel, or with
# --vm KERNEL in the micro-VM (nf_conntrack loaded first, as the lab has it there).
# Writes test/fixtures/grep-files/<kernel>/netfilter-sysctls/{stdout.txt,stderr.txt,meta.json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --vm ]; then
  # The same script inside the guest: the project is mounted there at /opt/nfscope, read-only, so
  # the guest prints the files and they are written here.
  out=$(node dist/main.js vm run --kernel "$2" -- sh -c 'modprobe nf_conntrack && /opt/nfscope/scripts/capture/grep-files.sh --print')
  kernel=$(printf '%s\n' "$out" | sed -n 's/^KERNEL //p')
  dir=test/fixtures/grep-files/$kernel/netfilter-sysctls
  mkdir -p "$dir"
  printf '%s\n' "$out" | awk -v dir="$dir" '/^=STDOUT=$/{f="stdout"; next} /^=STDERR=$/{f="stderr"; next} /^=META=$/{f="meta"; next} /^KERNEL /{next} f{print > (dir "/" f ".tmp")}'
  mv "$dir/stdout.tmp" "$dir/stdout.txt"; mv "$dir/stderr.tmp" "$dir/stderr.txt" 2>/dev/null || : > "$dir/stderr.txt"; mv "$dir/meta.tmp" "$dir/meta.json"
  ls -l "$dir"; exit 0
fi
missing=/proc/sys/net/netfilter/nf_conntrack_nfscope_gone
mapfile -t files < <(find /proc/sys/net/netfilter -type f -perm -200 | sort)
files+=("$missing")
set +e
stdout=$(LC_ALL=C grep -a -H '' -- "${files[@]}"; echo "=rc=$?")
stderr=$(LC_ALL=C grep -a -H '' -- "${files[@]}" 2>&1 >/dev/null)
set -e
rc=${stdout##*=rc=}; stdout=${stdout%=rc=*}
kernel=$(uname -r)
meta=$(node -e 'const [argv, tool, kernel, rc] = JSON.parse(process.argv[1]); console.log(JSON.stringify({ argv, tool, kernel, exitCode: Number(rc), case: "every writable net.netfilter sysctl (find -perm -200, sorted) and one path that does not exist, read in one grep" }, null, 2))' \
  "$(node -e 'console.log(JSON.stringify([["env","LC_ALL=C","grep","-a","-H","","--",...process.argv.slice(4)], process.argv[1], process.argv[2], process.argv[3]]))' "$(grep --version | head -1)" "$kernel" "$rc" "${files[@]}")")
if [ "${1:-}" = --print ]; then
  printf 'KERNEL %s\n=STDOUT=\n%s=STDERR=\n%s\n=META=\n%s\n' "$kernel" "$stdout" "$stderr" "$meta"
  exit 0
fi
dir=test/fixtures/grep-files/$kernel/netfilter-sysctls
mkdir -p "$dir"
printf '%s' "$stdout" > "$dir/stdout.txt"
printf '%s\n' "$stderr" > "$dir/stderr.txt"
printf '%s\n' "$meta" > "$dir/meta.json"
ls -l "$dir"
