#!/bin/bash
# follow-cases.sh - the cases of issue 13, run inside nfscope's micro-VM (a
# throwaway guest: its own netns, firewall and sysctls; nothing on the host):
# `nfscope vm run --kernel K -- bash /opt/nfscope/test/e2e/guest/follow-cases.sh`.
# Background processes are started by nsenter itself (not a shell function) with their
# output closed: `vm run` ends when the guest command's output does, and a kill must reach them.
# For each case it prints "=== CASE <name>", then follow's NDJSON, then
# "=== EXIT <code>". test/e2e/follow.vm.test.ts asserts on them.
set -u
# --capture: each case's raw events, context and packets as fixtures (NFSCOPE_CAPTURE_DIR), printed
# at the end as a base64 tar between "=== CAPTURE" and "=== END" (scripts/capture/follow-vm.sh).
CAPTURE=${1:-}
# NFSCOPE_FOLLOW_CASES: the cases to run, space-separated (default: the five, in this order; `drops` is
# syn-drop and invalid in one follow run, `mixed` those two and dnat6).
CASES=" ${NFSCOPE_FOLLOW_CASES:-syn-drop invalid dnat table-full dnat6 paths} "
want() { [[ "$CASES" == *" $1 "* ]]; }
N=/opt/nfscope
S=nfst-fc0001-s; C=nfst-fc0001-c
SRV=198.19.80.2; CLI=198.19.80.1
ns() { nsenter --net=/run/netns/$S -- "$@"; }
nc_() { nsenter --net=/run/netns/$C -- "$@"; }
setup() {
  ip netns add $S; ip netns add $C
  ip -n $C link add fa type veth peer name fb netns $S
  ip -n $C addr add $CLI/30 dev fa; ip -n $S addr add $SRV/30 dev fb
  for n in $S $C; do ip -n $n link set lo up; done; ip -n $C link set fa up; ip -n $S link set fb up
  ns iptables -A INPUT -p tcp --dport 2571 -j DROP
  ns iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
}
# A case whose set-up did not hold is reported as such (the test fails on it), never followed.
precondition() { echo "=== PRECONDITION $*"; teardown; exit 3; }
# wait_for TENTHS COMMAND WHAT: polls COMMAND (shell text of this script's own) every 0.1 s, bounded.
wait_for() { local i; for i in $(seq "$1"); do eval "$2" && return 0; sleep 0.1; done; precondition "not within $(($1 / 10)) s: $3"; }
teardown() { ip netns del $S 2>/dev/null; ip netns del $C 2>/dev/null; }
# run_follow NAME ARGS... ; then the traffic function `traffic` runs once follow is ready
run_follow() {
  local name=$1; shift
  rm -f /tmp/rdy
  [ "$CAPTURE" = --capture ] && export NFSCOPE_CAPTURE_DIR=/tmp/cap NFSCOPE_CAPTURE_CASE=$name \
    NFSCOPE_CAPTURE_SETUP="test/e2e/guest/follow-cases.sh, case $name: nfscope follow $*"
  node $N/dist/main.js follow --netns $S --ready-file /tmp/rdy --json --duration 40 "$@" > /tmp/fo.out 2>/tmp/fo.err &
  local fp=$!
  for i in $(seq 900); do [ -f /tmp/rdy ] && break; kill -0 $fp 2>/dev/null || break; sleep 0.1; done
  traffic
  wait $fp; local rc=$?
  echo "=== CASE $name"; cat /tmp/fo.out; echo "=== EXIT $rc"
  sed 's/^/# stderr: /' /tmp/fo.err
}

# 1. The article's SYN drop.
setup
if want syn-drop; then
traffic() { nc_ python3 $N/payload/net/syn.py $SRV 2571 1 >/dev/null; }
run_follow syn-drop --port 2571 --nftrace --count 1
fi

# 2. An INVALID drop: a bare ACK that conntrack cannot take as a new connection
#    (nf_conntrack_tcp_loose=0 in the server netns) meets --ctstate INVALID -j DROP.
if want invalid; then
ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
traffic() { nc_ python3 $N/payload/net/ack.py $CLI $SRV 2574; }
run_follow invalid --port 2574 --nftrace --count 1
ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=1
fi

# 1+2. Both drops in one follow (the test's way: a follow run is about 80 s of compiles under TCG):
#    the SYN to 2571, then the bare ACK to 2574, from the client: --count 2 takes exactly these two.
if want drops; then
ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
traffic() { nc_ python3 $N/payload/net/syn.py $SRV 2571 1 >/dev/null; nc_ python3 $N/payload/net/ack.py $CLI $SRV 2574; }
run_follow drops --host $CLI --proto tcp --nftrace --count 2
ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=1
fi

# 1+2+5. Both drops and the IPv6 DNAT in one follow run (case 5's set-up, then follow on the
#    veth for TCP): the SYN to 2571, the bare ACK to 2574, then the IPv6 connection, whose SYN is
#    the third packet: --count 3 takes exactly these.
if want mixed; then
ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
ip -n $C addr add fd00:80::1/64 dev fa nodad; ip -n $S addr add fd00:80::2/64 dev fb nodad; ip -n $S addr add fd00:80::3/64 dev fb nodad
ns ip6tables -t nat -A PREROUTING -p tcp --dport 2582 -j DNAT --to-destination '[fd00:80::3]:2583'
nsenter --net=/run/netns/$S -- python3 $N/payload/net/listen.py fd00:80::3 2583 >/tmp/lp6.out 2>&1 & lp=$!
wait_for 600 "grep -qx READY /tmp/lp6.out" "the listener on [fd00:80::3]:2583 printed READY"
traffic() {
  nc_ python3 $N/payload/net/syn.py $SRV 2571 1 >/dev/null; nc_ python3 $N/payload/net/ack.py $CLI $SRV 2574
  nc_ python3 -c "import socket;s=socket.create_connection(('fd00:80::2',2582),timeout=3);s.close()"
}
run_follow mixed --iface fb --proto tcp --nftrace --count 3
kill $lp
ns ip6tables -t nat -F PREROUTING
for a in fd00:80::2/64 fd00:80::3/64; do ip -n $S addr del $a dev fb; done; ip -n $C addr del fd00:80::1/64 dev fa
ns sysctl -qw net.netfilter.nf_conntrack_tcp_loose=1
fi

# 3. A DNAT: 2580 → 2581 at PRE_ROUTING, delivered to a listener on 2581.
if want dnat; then
ns iptables -t nat -A PREROUTING -p tcp --dport 2580 -j DNAT --to-destination $SRV:2581
nsenter --net=/run/netns/$S -- python3 $N/payload/net/listen.py $SRV 2581 >/dev/null 2>&1 & lp=$!
sleep 0.5
traffic() { nc_ python3 -c "import socket;s=socket.create_connection(('$SRV',2580),timeout=3);s.close()"; }
run_follow dnat --host $CLI --proto tcp --nftrace --count 1
kill $lp
fi

# 4. The conntrack table full: conntrack's own callback drops a new flow's SYN. The case holds only
#    if, when the SYN is sent, every entry of the server netns is one early_drop cannot evict: so
#    the table is flushed, one connection is held open and ASSURED (900 s: under load follow can
#    take more than a minute to be ready, and a held connection that closes first sends a FIN the
#    case would follow), nf_conntrack_max (global; per-netns count: this guest is a throwaway) is
#    set to that one entry, and all of it is checked before follow starts. Sleeps are not enough:
#    under TCG on a loaded host a listener not yet bound refused the held connection, the table had
#    room, and the followed SYN was accepted by conntrack. The listener holds what it accepts: one
#    that closed it sent a FIN whenever python got the CPU, and the client's ACK of it was the
#    packet to 2575 that follow took (CI on 6.12: conntrack's callbacks all ACCEPT at PRE_ROUTING);
#    the entry, in CLOSE_WAIT, was also one the gc worker may evict when the table is full.
if want table-full; then
nsenter --net=/run/netns/$S -- python3 $N/payload/net/listen.py $SRV 2575 hold >/tmp/lp.out 2>&1 & lp=$!
wait_for 600 "grep -qx READY /tmp/lp.out" "the listener on $SRV:2575 printed READY"
ns conntrack -F 2>/dev/null
nsenter --net=/run/netns/$C -- python3 -c "import socket,time;s=socket.create_connection(('$SRV',2575));print('CONNECTED',flush=True);time.sleep(900)" >/tmp/hold.out 2>&1 & hold=$!
wait_for 600 "grep -qx CONNECTED /tmp/hold.out" "the held connection to $SRV:2575 is established"
wait_for 600 "grep -qx ACCEPTED /tmp/lp.out" "the listener holds the connection it accepted"
wait_for 100 "ns conntrack -L 2>/dev/null | grep -q 'ESTABLISHED .*dport=2575 .*ASSURED'" "conntrack holds the held connection as ESTABLISHED and ASSURED"
old=$(sysctl -n net.netfilter.nf_conntrack_max)
sysctl -qw net.netfilter.nf_conntrack_max=1
echo "# table-full precondition: nf_conntrack_count $(ns sysctl -n net.netfilter.nf_conntrack_count), max 1, entries:"
ns conntrack -L 2>/dev/null | sed 's/^/#   /'
if [ "$(ns conntrack -L 2>/dev/null | grep -Evc 'ESTABLISHED .*ASSURED')" != 0 ]; then precondition "an entry early_drop or the gc worker could evict is in the table"; fi
traffic() { nc_ python3 $N/payload/net/syn.py $SRV 2575 1 >/dev/null; }
run_follow table-full --port 2575 --count 1
sysctl -qw net.netfilter.nf_conntrack_max=$old
kill $hold $lp
fi

# 5. An IPv6 DNAT that rewrites the address and the port: [fd00:80::2]:2582 → [fd00:80::3]:2583
#    at PRE_ROUTING, delivered to a listener there (the IPv6 tuple before and after each callback).
if want dnat6; then
ip -n $C addr add fd00:80::1/64 dev fa nodad; ip -n $S addr add fd00:80::2/64 dev fb nodad; ip -n $S addr add fd00:80::3/64 dev fb nodad
ns ip6tables -t nat -A PREROUTING -p tcp --dport 2582 -j DNAT --to-destination '[fd00:80::3]:2583'
nsenter --net=/run/netns/$S -- python3 $N/payload/net/listen.py fd00:80::3 2583 >/dev/null 2>&1 & lp=$!
sleep 0.5
traffic() { nc_ python3 -c "import socket;s=socket.create_connection(('fd00:80::2',2582),timeout=3);s.close()"; }
run_follow dnat6 --iface fb --proto tcp --count 1
kill $lp
fi
# 6. One UDP flow that changes path mid-way (follow's default, paths kept in the kernel): 10
#    datagrams; then a NOTRACK rule in the raw table (conntrack's view changes: a new path), 10 more;
#    then a DROP rule at INPUT, 5 more; then an inet base chain at LOCAL_IN, registered while
#    following (its callback, nft_do_chain_inet, has no probe: the hook's record must not give its
#    place to another), 3 more. The raw table's chain exists before follow starts. A sink on the
#    server counts what was delivered (the workload's own count).
if want paths; then
ns iptables -t raw -A PREROUTING -p udp --dport 9 -j ACCEPT
nsenter --net=/run/netns/$S -- python3 $N/payload/net/udpsink.py $SRV 2590 >/tmp/sink.out 2>&1 & sink=$!
wait_for 600 "grep -qx READY /tmp/sink.out" "the sink on $SRV:2590 printed READY"
traffic() {
  coproc PH { nsenter --net=/run/netns/$C -- python3 $N/payload/net/phases.py $SRV 2590; }
  local l; read -r -t 60 l <&"${PH[0]}"; [ "$l" = READY ] || precondition "phases.py did not start: $l"
  echo 10 >&"${PH[1]}"; read -r -t 60 l <&"${PH[0]}"; [ "$l" = "SENT 10" ] || precondition "phase 1: $l"
  ns iptables -t raw -I PREROUTING -p udp --dport 2590 -j NOTRACK
  echo 10 >&"${PH[1]}"; read -r -t 60 l <&"${PH[0]}"; [ "$l" = "SENT 10" ] || precondition "phase 2: $l"
  ns iptables -I INPUT -p udp --dport 2590 -j DROP
  echo 5 >&"${PH[1]}"; read -r -t 60 l <&"${PH[0]}"; [ "$l" = "SENT 5" ] || precondition "phase 3: $l"
  ns nft add table inet nfst_late '{ chain in { type filter hook input priority -10; }; }'
  echo 3 >&"${PH[1]}"; read -r -t 60 l <&"${PH[0]}"; [ "$l" = "SENT 3" ] || precondition "phase 4: $l"
  exec {PH[1]}>&-; wait $PH_PID
  # Let follow see the last drops before it stops (its --duration is the bound).
  sleep 3; kill -INT "$(cat /tmp/rdy)"
}
run_follow paths --port 2590 --proto udp
kill -TERM $sink; wait $sink; echo "# paths sink: $(tail -1 /tmp/sink.out)"
ns iptables -t raw -F PREROUTING; ns iptables -D INPUT -p udp --dport 2590 -j DROP; ns nft delete table inet nfst_late
fi
teardown
if [ "$CAPTURE" = --capture ]; then echo "=== CAPTURE"; tar -C /tmp/cap -cz . | base64 -w0; echo; echo "=== END"; fi
