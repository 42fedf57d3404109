#!/usr/bin/env bash
# cycle.sh - the classroom VM's whole cycle on the locally built box, as a check
# that can fail at every step (issue 16):
#
#   1. build the box nfscope/debian12 (cached: scripts/vagrant/local-box.sh)
#   2. vagrant up --provider=libvirt               (scripts/vagrant/vagrant.sh)
#   3. vagrant ssh -c 'sudo nfscope lab --json'     every claim confirmed
#   4. nfscope doctor --target vagrant --json       from this machine: the VM's
#      kernel and what it offers (kprobes, function_graph) through the vagrant
#      target (the whole lab runs in step 3; the lab through a remote target in
#      test/e2e/lab.vm.test.ts, experiments over ssh in test/e2e/ssh.host.test.ts)
#   5. vagrant destroy -f
#   6. nothing left: no domain, network or nfscope volume; then the namespace
#      and its libvirt stopped; the root namespace's links, `nft list ruleset`
#      and `iptables-save` byte-identical to before.
#
# Prints each step's time. The lab reports are kept in NFSCOPE_CYCLE_OUT (default:
# a private directory it names). Its own .vagrant state lives in that directory
# too (VAGRANT_DOTFILE_PATH), so a VM of the user's own in this checkout is never
# touched. Run as root.
set -euo pipefail
trap 'echo "cycle.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "cycle.sh must run as root: sudo $0" >&2; exit 1; }
umask 077
out=${NFSCOPE_CYCLE_OUT:-$(mktemp -d /tmp/nfscope-cycle.XXXXXX)}
mkdir -p "$out"
if [ -L "$out" ] || [ "$(stat -c %u "$out")" != 0 ]; then echo "cycle.sh: $out is a symlink or not root's" >&2; exit 1; fi
export NFSCOPE_VAGRANT_NETNS=${NFSCOPE_VAGRANT_NETNS:-nfscope-vagrant-cycle}
export NFSCOPE_BOX=nfscope/debian12
export VAGRANT_DOTFILE_PATH="$out/.vagrant"
export NFSCOPE_VAGRANT="$root/scripts/vagrant/vagrant.sh"
V="$NFSCOPE_VAGRANT"
port=${NFSCOPE_CYCLE_PORT:-2571}

log() { printf 'cycle: %s\n' "$*" >&2; }
now() { date +%s.%N; }
took() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }
times=()
step() { times+=("$1: $2 s"); log "$1 took $2 s"; }

# The root namespace as it stands: links, firewall (nft and iptables' views).
fingerprint() {
  ip -d link show > "$1.links"
  nft list ruleset > "$1.nft"
  { iptables-save; ip6tables-save; } 2>/dev/null | sed '/^#/d' > "$1.iptables"
}
fingerprint "$out/before"

up=""
teardown() {
  set +e
  if [ -n "$up" ]; then "$V" destroy -f >>"$out/destroy.log" 2>&1; fi
  "$V" --stop >>"$out/stop.log" 2>&1
}
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then log "failed (exit $rc): tearing down"; teardown; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

t=$(now)
scripts/vagrant/local-box.sh 2>&1 | tee "$out/box.log" >&2
step "box (local-box.sh)" "$(took "$t")"

t=$(now); up=1
"$V" up --provider=libvirt > "$out/up.log" 2>&1 || { tail -40 "$out/up.log" >&2; exit 1; }
step "vagrant up (boot + provision)" "$(took "$t")"

check_lab() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const rep = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const bad = rep.claims.filter((c) => c.status !== "confirmed");
    console.error(`cycle: ${process.argv[2]}: kernel ${rep.kernel}, target ${rep.target}: ` +
      rep.claims.map((c) => `${c.id}=${c.status}`).join(", "));
    if (rep.claims.length !== 5 || bad.length) { for (const c of bad) console.error(`  ${c.id}: ${c.reason ?? ""}`); process.exit(1); }
  ' "$1" "$2"
}

t=$(now)
"$V" ssh -c "sudo nfscope lab --port $port --json" > "$out/lab-inside.json" 2> "$out/lab-inside.err" \
  || { tail -20 "$out/lab-inside.err" >&2; exit 1; }
step "lab inside the VM (vagrant ssh)" "$(took "$t")"
check_lab "$out/lab-inside.json" "lab inside the VM"

t=$(now)
node dist/main.js doctor --target vagrant --json > "$out/doctor-target.json" 2> "$out/doctor-target.err" \
  || { tail -20 "$out/doctor-target.err" >&2; exit 1; }
step "doctor --target vagrant" "$(took "$t")"
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const rep = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const cap = (id) => rep.caps.find((c) => c.id === id)?.available;
  console.error(`cycle: doctor --target vagrant: kernel ${rep.kernel}, target ${rep.target}, root ${rep.root}: ` +
    rep.caps.map((c) => `${c.id}=${c.available}`).join(" "));
  if (!rep.root || !cap("kprobes") || !cap("function_graph") || !cap("btf")) process.exit(1);
' "$out/doctor-target.json"

t=$(now)
"$V" destroy -f > "$out/destroy.log" 2>&1 || { cat "$out/destroy.log" >&2; exit 1; }
up=""
step "vagrant destroy" "$(took "$t")"

# What libvirt still holds of the cycle's, before its daemon goes: no domain,
# no network of vagrant-libvirt's, no volume of nfscope's (the base box image
# vagrant keeps is deleted by the Vagrantfile's trigger after destroy).
V_="virsh -q -c qemu:///system"
left=$(
  $V_ list --all --name | grep '^nfscope-' | sed 's/^/domain /'
  $V_ net-list --all --name | grep -x 'vagrant-libvirt' | sed 's/^/network /'
  $V_ net-list --name | sed 's/^/active network /'
  for p in $($V_ pool-list --all --name); do
    $V_ vol-list "$p" | awk '$1 ~ /^nfscope/ { print "volume " $1 }'
  done
)
left=$(printf '%s\n' "$left" | sed '/^[a-z ]* $/d; /^$/d')
if [ -n "$left" ]; then log "left behind after destroy: $left"; exit 1; fi
log "after destroy: no domain, no network, no volume"
"$V" --stop > "$out/stop.log" 2>&1
if ip netns list | grep -qw "$NFSCOPE_VAGRANT_NETNS"; then log "namespace $NFSCOPE_VAGRANT_NETNS left behind"; exit 1; fi
# Zombies (an exited daemon its reaper has not collected yet) do not count.
# (pgrep matches at most 15 characters of a name: one daemon at a time.)
for d in libvirtd virtlogd; do
  if pgrep -r D,R,S,T,t,W,X,I -x "$d" >/dev/null; then log "$d is still running"; exit 1; fi
done
if compgen -G '/var/lib/libvirt/images/nfscope*' >/dev/null; then log "images left: $(echo /var/lib/libvirt/images/nfscope*)"; exit 1; fi
log "after --stop: no namespace, no libvirt daemon, no image of nfscope's"

fingerprint "$out/after"
for f in links nft iptables; do
  cmp -s "$out/before.$f" "$out/after.$f" || { log "the root namespace's $f changed:"; diff "$out/before.$f" "$out/after.$f" >&2; exit 1; }
done
log "root namespace: links, nft ruleset and iptables-save byte-identical before and after"
printf '%s\n' "${times[@]}" | tee "$out/times.txt" >&2
log "reports in $out"
