#!/bin/sh
# capture/kstack-host.sh OUTDIR - capture real bpftrace kstack maps (text and
# -f json) for the kstack parser's fixtures: drops (skb:kfree_skb) of 3 SYNs to
# a closed port on loopback, inside a netns this script creates and removes.
set -eu
OUT=$1
NS=nfscope-kstack-$$
T=/sys/kernel/tracing
MOUNTED=0
grep -q " $T tracefs" /proc/mounts || { mount -t tracefs nodev $T; MOUNTED=1; }
trap 'ip netns del $NS 2>/dev/null || true; [ $MOUNTED = 1 ] && umount $T || true' EXIT
ip netns add $NS
ip -n $NS link set lo up
INODE=$(stat -L -c %i /run/netns/$NS)
PROG='tracepoint:skb:kfree_skb /((struct sk_buff *)args->skbaddr)->dev != 0 && ((struct sk_buff *)args->skbaddr)->dev->nd_net.net->ns.inum == $1/ { @drops[kstack, args->reason] = count(); @all[kstack] = count(); } BEGIN { printf("READY\n"); }'
for fmt in text json; do
  if [ $fmt = json ]; then F="-f json"; else F=""; fi
  # shellcheck disable=SC2086
  timeout -s INT 4 bpftrace $F -e "$PROG" "$INODE" > "$OUT/$fmt.out" 2>/dev/null &
  sleep 2
  for i in 1 2 3; do ip netns exec $NS python3 -c "import socket; socket.socket().connect_ex(('127.0.0.1', 9))"; done
  wait || true
done
