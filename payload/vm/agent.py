#!/usr/bin/env python3
"""agent.py - nfscope's guest agent: runs argv for the host over a serial line.

USAGE (in the guest): agent.py /dev/ttyS1 [--pid1]
       (over ssh):     python3 -c BOOTSTRAP --stdio   (src/targets/ssh.ts sends this file on stdin)
With --pid1 it is the guest's init (payload/vm/init hands over to it): it
raises RLIMIT_MEMLOCK for bpftrace, reaps orphans, and powers the guest off
when it is done (a PID 1 that exits panics the kernel).
With --stdio it serves one ssh session on its stdin/stdout: when the session
ends (EOF), every process it started is killed and its private directory removed.

Protocol: one JSON object a line, both ways. Output is base64 (bytes stay bytes).
  host  -> {"id": N, "op": "exec",  "argv": [...], "timeout": ms?, "input": str?}
  agent -> {"id": N, "op": "exit",  "code": int|null, "signal": str|null,
            "stdout": b64, "stderr": b64, "timedOut": bool, "ms": float}
  host  -> {"id": N, "op": "spawn", "argv": [...], "timeout": ms?}
  agent -> {"id": N, "op": "line",  "data": str}          one per stdout line
  agent -> {"id": N, "op": "exit", ...}                    stdout already streamed
  host  -> {"id": N, "op": "signal", "sig": "INT"|"TERM"|"KILL", "explain": bool?}
            KILL: the process group's tasks (state, wchan, kernel stack) are added to
            its stderr first, unless explain is false (a kill as planned)
  host  -> {"id": N, "op": "put", "rel": "bpf/x.bt", "data": b64}
  agent -> {"id": N, "op": "exit", "code": 0, "stdout": b64(path), ...}
            the file is written under the agent's own private directory (mkdtemp,
            0700, owner checked), never to a path someone else could have planted
  host  -> {"id": 0, "op": "shutdown"}                     agent exits, guest powers off
  agent -> {"id": 0, "op": "hello", "kernel": release}     once, when ready
Nothing here runs a shell: argv goes to execve.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

lock = threading.Lock()
procs = {}
# What a process group's tasks were doing when the agent sent it SIGKILL, by request id:
# appended to that request's stderr, the evidence a process that would not stop leaves.
at_kill = {}
# A snapshot of many tasks is cut here: it goes into a failure's message.
SNAPSHOT_MAX = 8192
private = []  # the directory 'put' writes to, made on first use
# A request line longer than this is refused, not buffered without end (issue 15).
MAX_LINE = 64 << 20


def send(fd, obj):
    data = (json.dumps(obj) + "\n").encode()
    with lock:
        while data:
            n = os.write(fd, data)
            data = data[n:]


def b64(b):
    return base64.b64encode(b or b"").decode()


def group_tasks(pgid):
    """Each task of process group pgid: its state, wchan and kernel stack (/proc, root only)."""
    lines = []
    for d in sorted((d for d in os.listdir("/proc") if d.isdigit()), key=int):
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            comm, rest = st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2:].split()
            if int(rest[2]) != pgid:
                continue
            tids = sorted(os.listdir(f"/proc/{d}/task"), key=int)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not a process: not one of the group's
        lines.append(f"  pid {d} ({comm})")
        for t in tids:
            base = f"/proc/{d}/task/{t}"
            try:
                with open(f"{base}/stat") as f:
                    tst = f.read()
                state = tst[tst.rindex(")") + 2:].split()[0]
                with open(f"{base}/comm") as f:
                    tcomm = f.read().strip()
                with open(f"{base}/wchan") as f:
                    wchan = f.read().strip() or "-"
            except (OSError, ValueError, IndexError) as e:
                lines.append(f"    task {t}: unreadable ({e})")
                continue
            lines.append(f"    task {t} ({tcomm}) state {state}, wchan {wchan}")
            try:
                with open(f"{base}/stack") as f:
                    lines += ["      " + x for x in f.read().splitlines()]
            except OSError as e:
                lines.append(f"      kernel stack unreadable ({e.strerror})")
    text = "\n".join(lines) if lines else "  none left in its process group"
    if len(text) > SNAPSHOT_MAX:
        text = text[:SNAPSHOT_MAX] + f"\n  [{len(text) - SNAPSHOT_MAX} more characters not kept]"
    return text


def kill_group(rid, p, why):
    """SIGKILL to p's process group, its tasks' state kept first for the request's stderr."""
    try:
        at_kill[rid] = f"{why}, its tasks were (/proc/PID/task/TID):\n{group_tasks(p.pid)}\n".encode()
    except OSError as e:
        at_kill[rid] = f"{why}, its tasks could not be listed: {e}\n".encode()
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass  # the group is gone already: its exit is on its way


def finish(fd, rid, p, t0, out, err, timed_out):
    err = (err or b"") + at_kill.pop(rid, b"")
    code = p.returncode
    sig = None
    if code is not None and code < 0:
        sig, code = signal.Signals(-code).name, None
    send(fd, {"id": rid, "op": "exit", "code": code, "signal": sig, "stdout": b64(out),
              "stderr": b64(err), "timedOut": timed_out, "ms": (time.monotonic() - t0) * 1000})


def do_exec(fd, req):
    rid, t0 = req["id"], time.monotonic()
    try:
        p = subprocess.Popen(req["argv"], stdin=subprocess.PIPE if "input" in req else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        send(fd, {"id": rid, "op": "exit", "code": 127, "signal": None, "stdout": "",
                  "stderr": b64(str(e).encode() + b"\n"), "timedOut": False, "ms": 0})
        return
    procs[rid] = p
    timeout = req.get("timeout")
    timed_out = False
    try:
        out, err = p.communicate(req.get("input", "").encode() if "input" in req else None,
                                 timeout=timeout / 1000 if timeout else None)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(rid, p, f"when its {timeout} ms ran out")
        out, err = p.communicate()
    procs.pop(rid, None)
    finish(fd, rid, p, t0, out, err, timed_out)


def do_spawn(fd, req):
    rid, t0 = req["id"], time.monotonic()
    try:
        p = subprocess.Popen(req["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        send(fd, {"id": rid, "op": "exit", "code": 127, "signal": None, "stdout": "",
                  "stderr": b64(str(e).encode() + b"\n"), "timedOut": False, "ms": 0})
        return
    procs[rid] = p
    errbuf = []
    t = threading.Thread(target=lambda: errbuf.append(p.stderr.read()), daemon=True)
    t.start()
    timeout = req.get("timeout")
    if timeout:
        threading.Timer(timeout / 1000, lambda: p.poll() is None and kill_group(rid, p, f"when its {timeout} ms ran out")).start()
    for line in iter(p.stdout.readline, b""):
        send(fd, {"id": rid, "op": "line", "data": line.decode("utf-8", "replace").rstrip("\n")})
    p.wait()
    t.join()
    procs.pop(rid, None)
    finish(fd, rid, p, t0, b"", errbuf[0] if errbuf else b"", False)


def private_dir():
    if not private:
        d = tempfile.mkdtemp(prefix="nfscope-run.")  # 0700, O_EXCL: never one that was there
        st = os.lstat(d)
        if st.st_uid != os.geteuid() or (st.st_mode & 0o777) != 0o700 or not os.path.isdir(d) or os.path.islink(d):
            raise OSError(f"private directory {d} is not ours and private")
        private.append(d)
    return private[0]


def do_put(fd, req):
    rid, t0 = req["id"], time.monotonic()
    try:
        rel = req["rel"]
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise OSError(f"bad bundled path {rel!r}")
        path = private_dir()
        for p in parts[:-1]:
            path = os.path.join(path, p)
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)
        path = os.path.join(path, parts[-1])
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(f, "wb") as out:
            out.write(base64.b64decode(req["data"]))
        send(fd, {"id": rid, "op": "exit", "code": 0, "signal": None, "stdout": b64(path.encode()),
                  "stderr": "", "timedOut": False, "ms": (time.monotonic() - t0) * 1000})
    except (OSError, KeyError, ValueError) as e:
        send(fd, {"id": rid, "op": "exit", "code": 1, "signal": None, "stdout": "",
                  "stderr": b64(str(e).encode() + b"\n"), "timedOut": False, "ms": 0})


def kill_all():
    for p in list(procs.values()):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass


def power_off():
    os.sync()
    import ctypes  # only now: it costs start-up time over 9p
    libc = ctypes.CDLL(None, use_errno=True)
    libc.reboot(0x4321FEDC)  # LINUX_REBOOT_CMD_POWER_OFF
    os._exit(0)


def reap_orphans():
    # As PID 1, orphaned grandchildren are ours to wait for. Reap only pids
    # this agent did not start itself (subprocess waits for those).
    while True:
        time.sleep(1)
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in (p.pid for p in list(procs.values())):
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                if st[0] == "Z" and st[1] == "1":
                    os.waitpid(int(d), os.WNOHANG)
            except (OSError, IndexError, ChildProcessError):
                pass


def main():
    # A SIGINT ignored by whoever started the agent (a shell's background job) would stay ignored in
    # every child: a tracer's child (bpftrace -c sleep) must die of the stop's SIGINT.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if "--stdio" in sys.argv:
        # One ssh session: requests on stdin, replies on stdout. Whatever ends it
        # (EOF, a lost connection, shutdown), the processes and files go with it.
        try:
            serve(0, 1, eof_ends=True)
        finally:
            kill_all()
            for d in private:
                shutil.rmtree(d, ignore_errors=True)
        return
    pid1 = "--pid1" in sys.argv
    if pid1:
        import resource
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        os.environ.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", HOME="/root", LANG="C.UTF-8")
        threading.Thread(target=reap_orphans, daemon=True).start()
    try:
        import tty  # only the serial line needs it
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        serve(fd, fd, eof_ends=False)
    finally:
        if pid1:
            power_off()


def serve(in_fd, fd, eof_ends):
    send(fd, {"id": 0, "op": "hello", "kernel": os.uname().release})
    buf = b""
    while True:
        chunk = os.read(in_fd, 65536)
        if not chunk:
            if eof_ends:
                return
            time.sleep(0.01)  # a serial line with nobody on the host side yet
            continue
        buf += chunk
        # buf held no newline before this chunk: looking in the chunk is enough.
        if len(buf) > MAX_LINE and b"\n" not in chunk:
            send(fd, {"id": -1, "op": "error", "message": f"request line over {MAX_LINE} bytes: dropped"})
            buf = b""
            continue
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except ValueError:
                send(fd, {"id": -1, "op": "error", "message": "bad request line"})
                continue
            op = req.get("op")
            if op == "shutdown":
                kill_all()
                send(fd, {"id": req.get("id", 0), "op": "bye"})
                return
            if op == "signal":
                p = procs.get(req["id"])
                if p is not None and req["sig"] == "KILL" and req.get("explain", True):
                    # In a thread: reading /proc must never hold up the serial line's other requests.
                    threading.Thread(target=kill_group, args=(req["id"], p, "when the host sent SIGKILL"), daemon=True).start()
                elif p is not None:
                    try:
                        os.killpg(p.pid, getattr(signal, "SIG" + req["sig"]))
                    except OSError:
                        pass
                continue
            if op == "put":
                do_put(fd, req)
                continue
            target = do_exec if op == "exec" else do_spawn if op == "spawn" else None
            if target is None:
                send(fd, {"id": req.get("id", -1), "op": "error", "message": f"unknown op {op}"})
                continue
            threading.Thread(target=target, args=(fd, req), daemon=True).start()


main()
