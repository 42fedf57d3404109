#!/usr/bin/env python3
"""bpf-nf-link.py PF HOOKNUM PRIORITY NAME - a BPF netfilter link (6.4+, CONFIG_NETFILTER_BPF_LINK) in
the caller's network namespace: a program named NAME that accepts every packet (r0 = NF_ACCEPT; exit),
loaded and linked through the bpf(2) syscall itself, since no loader (bpftool, libbpf tools) is
installed here. The enum values (BPF_PROG_TYPE_NETFILTER, BPF_NETFILTER, the commands) are read from
the kernel's BTF, never typed. Prints "READY <prog id>" (from BPF_OBJ_GET_INFO_BY_FD) once the link
holds, keeps it until stdin closes, and exits 0. x86_64 only (the bpf syscall's number)."""
import ctypes, os, struct, sys

def btf_enums(path='/sys/kernel/btf/vmlinux'):
    """Every enumerator of the kernel's BTF, by name (BTF_KIND_ENUM and ENUM64)."""
    b = open(path, 'rb').read()
    _magic, _ver, _flags, hlen, toff, tlen, soff, slen = struct.unpack('<HBBIIIII', b[:24])
    types, strs = b[hlen + toff:hlen + toff + tlen], b[hlen + soff:hlen + soff + slen]
    name = lambda o: strs[o:strs.index(b'\0', o)].decode()
    # Bytes after the 12-byte header per kind (include/uapi/linux/btf.h): fixed, or per member.
    fixed, per = {1: 4, 3: 12, 14: 4, 17: 4}, {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
    out, i = {}, 0
    while i < len(types):
        _n, info, _size = struct.unpack_from('<III', types, i)
        i += 12
        kind, vlen = (info >> 24) & 0x1f, info & 0xffff
        if kind == 6:
            for j in range(vlen):
                n, v = struct.unpack_from('<Ii', types, i + 8 * j)
                out[name(n)] = v
        elif kind == 19:
            for j in range(vlen):
                n, lo, hi = struct.unpack_from('<III', types, i + 12 * j)
                out[name(n)] = lo | hi << 32
        i += fixed.get(kind, 0) + per.get(kind, 0) * vlen
    return out

E = btf_enums()
pf, hooknum, priority, prog_name = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
SYS_bpf = 321  # arch/x86/entry/syscalls/syscall_64.tbl
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]

def bpf(cmd, attr, what):
    buf = ctypes.create_string_buffer(attr, 144)  # sizeof(union bpf_attr) is 144 on 6.x
    r = libc.syscall(SYS_bpf, E[cmd], buf, 144)
    if r < 0:
        sys.exit(f'{what}: {os.strerror(ctypes.get_errno())}')
    return r

insns = ctypes.create_string_buffer(struct.pack('<BBhi', 0xb7, 0, 0, 1) + struct.pack('<BBhi', 0x95, 0, 0, 0), 16)
lic = ctypes.create_string_buffer(b'GPL')
log = ctypes.create_string_buffer(4096)
# union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf,
# kern_version, prog_flags, prog_name[16], prog_ifindex, expected_attach_type.
try:
    prog_fd = bpf('BPF_PROG_LOAD', struct.pack('<IIQQIIQII16sII', E['BPF_PROG_TYPE_NETFILTER'], 2, ctypes.addressof(insns),
                  ctypes.addressof(lic), 1, 4096, ctypes.addressof(log), 0, 0, prog_name[:15], 0, E['BPF_NETFILTER']), 'BPF_PROG_LOAD')
except SystemExit as e:
    sys.exit(f'{e.code}: {log.value.decode(errors="replace")}')
# BPF_LINK_CREATE: prog_fd, target_fd, attach_type, flags, then netfilter's pf, hooknum, priority, flags.
bpf('BPF_LINK_CREATE', struct.pack('<IIIIIIiI', prog_fd, 0, E['BPF_NETFILTER'], 0, pf, hooknum, priority, 0), 'BPF_LINK_CREATE')
info = ctypes.create_string_buffer(256)
bpf('BPF_OBJ_GET_INFO_BY_FD', struct.pack('<IIQ', prog_fd, 256, ctypes.addressof(info)), 'BPF_OBJ_GET_INFO_BY_FD')
print(f'READY {struct.unpack_from("<I", info.raw, 4)[0]}', flush=True)  # struct bpf_prog_info: type, id
sys.stdin.read()
