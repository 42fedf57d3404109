#!/bin/bash
# nfscope micro-VM, stage 2 (PID 1 on the host's root, overlaid read-write in
# tmpfs). Mounts what tracing needs, then runs the agent on ttyS1 until the
# host asks for shutdown; powers off with -f (an asynchronous power-off would
# let PID 1 exit first, and the kernel panics).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
# Boot milestones, guest uptime in seconds: on the console and in /run/nfscope-boot.log.
mark() { local up _; read -r up _ < /proc/uptime; echo "nfscope-boot $up $1"; [ -d /run/lock ] && echo "$up $1" >> /run/nfscope-boot.log; }
mount -t proc proc /proc
mark stage2
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# bash process substitution and many tools expect these.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /run/netns /run/lock
mark mounted
hostname nfscope-vm
ip link set lo up
ulimit -l unlimited
mark agent
# -S -E: no site packages, no PYTHON* variables: a faster start over 9p, and only the stdlib.
/usr/bin/python3 -S -E "$(dirname "$0")/agent.py" /dev/ttyS1
echo "nfscope-guest: agent exited ($?), powering off"
sync
poweroff -f
