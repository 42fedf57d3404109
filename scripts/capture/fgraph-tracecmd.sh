#!/bin/sh
# capture/fgraph-tracecmd.sh - run INSIDE the micro-VM to capture real
# function_graph text for parser fixtures, in the two layouts nfscope parses:
#   1. `trace-cmd report` of `trace-cmd record -p function_graph`
#   2. the tracefs `trace` file, no pid filter, SYN senders pinned to CPU 0
#      and CPU 1 at once: lines of both CPUs interleave.
# Traffic stays between two namespaces this script creates (198.18.0.0/24)
# and removes. Usage (on the host):
#   nfscope vm run --kernel linux-image-6.1.0-56-amd64 -- sh scripts/capture/fgraph-tracecmd.sh $PWD > out.txt
# Output: "=== trace-cmd report" then "=== tracefs trace" sections.
set -eu
ROOT=$1
T=/sys/kernel/tracing
trap 'echo nop > $T/current_tracer; echo > $T/set_ftrace_filter; ip netns del fgc 2>/dev/null; ip netns del fgs 2>/dev/null' EXIT
ip netns add fgc; ip netns add fgs
ip link add vc netns fgc type veth peer name vs netns fgs
ip -n fgc addr add 198.18.0.1/24 dev vc; ip -n fgs addr add 198.18.0.2/24 dev vs
ip -n fgc link set vc up; ip -n fgs link set vs up
ip netns exec fgs iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
ip netns exec fgs iptables -A INPUT -p tcp --dport 2571 -j DROP
SYN="python3 -S -E $ROOT/payload/net/syn.py 198.18.0.2 2571"
FILTER="-l :mod:nf_conntrack -l kfree_skb_reason -l nf_hook_slow -l kmem_cache_alloc -l kmem_cache_free"
echo "=== trace-cmd report"
# shellcheck disable=SC2086
trace-cmd record -q -p function_graph $FILTER -o /tmp/fg.dat -- ip netns exec fgc $SYN 2 300 >/dev/null
trace-cmd report -i /tmp/fg.dat
echo "=== tracefs trace"
echo nop > $T/current_tracer
echo ':mod:nf_conntrack kfree_skb_reason nf_hook_slow kmem_cache_alloc kmem_cache_free' > $T/set_ftrace_filter
echo 1 > $T/options/funcgraph-proc
echo function_graph > $T/current_tracer
echo > $T/trace
ip netns exec fgc taskset -c 0 $SYN 20 300 >/dev/null &
ip netns exec fgc taskset -c 1 $SYN 20 300 >/dev/null &
wait
echo 0 > $T/tracing_on
cat $T/trace
echo 1 > $T/tracing_on
