"""A watchdog that stops running steps if chant dies without warning.

A step's command runs in its own process group, so a SIGKILLed ``chant run`` or worker
(or an out-of-memory kill) would leave it running, and on Temporal the step is retried
elsewhere while the old command is still at work. ``enable()`` starts a tiny watchdog
process holding the read end of a pipe from this process. Each command's group is
announced on the pipe when it starts and withdrawn when it ends; when the pipe reaches
end-of-file without a clean goodbye — this process is gone — the watchdog stops every
group still announced and, on Linux, every process whose environment carries this
process's ``CHANT_STEP_TOKEN`` prefix (whatever group or session it moved to): SIGTERM,
then SIGKILL 2 s later.

``enable(fork=True)`` forks the watchdog from this process, which costs a fraction of a
millisecond, and must run before any thread exists (``chant run`` calls it before its
event loop starts). Otherwise (a worker, whose client already runs threads) it is a
fresh ``python -S`` process. Children are spawned with ``start_new_session``;
``preexec_fn`` (for PR_SET_PDEATHSIG) can deadlock a forked child of a multi-threaded
process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from chant.activities import reap

_WATCHDOG = r"""
import os, signal, time

def tagged(mark, pipes):
    # Processes carrying the token prefix, or holding a step's pipe (env replaced).
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/" + entry + "/environ", "rb") as f:
                if mark in b"\0" + f.read():
                    found.append(int(entry))
                    continue
            if pipes:
                for fd in os.listdir("/proc/" + entry + "/fd"):
                    try:
                        if os.readlink("/proc/" + entry + "/fd/" + fd) in pipes:
                            found.append(int(entry))
                            break
                    except OSError:
                        pass
        except OSError:
            pass
    return found

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")

def watch(fd, prefix):
    groups, clean, pending = {}, False, b""
    while not clean:
        data = os.read(fd, 4096)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            op, *args = line.split()
            if op == b"+":
                groups[int(args[0])] = ["pipe:[%s]" % a.decode() for a in args[1:]]
            elif op == b"-":
                groups.pop(int(args[0]), None)
            elif op == b"bye":
                clean = True
    if clean:
        return
    mark = b"\0CHANT_STEP_TOKEN=" + prefix.encode()
    pipes = {p for inodes in groups.values() for p in inodes}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = tagged(mark, pipes)
        for g in groups:
            try:
                os.killpg(g, sig)
            except OSError:
                pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                time.sleep(0.05)
                if not any(alive(p) for p in tagged(mark, pipes)) and not any(
                    _group(g) for g in groups
                ):
                    return

def _group(g):
    try:
        os.killpg(g, 0)
    except OSError:
        return False
    return True
"""

_fd: int | None = None
_pid: int | None = None
_proc: subprocess.Popen[bytes] | None = None


def enable(*, fork: bool = False) -> None:
    """Start the watchdog for this process (once); ``fork`` only before any thread."""
    global _fd, _pid, _proc
    if _fd is not None:
        return
    if fork:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the watchdog
            _child(read)
        os.close(read)
        _fd, _pid = write, pid
    else:
        _proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _WATCHDOG + f"watch(0, {reap.prefix()!r})"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C for this process is not for the watchdog
        )
        assert _proc.stdin is not None
        _fd, _pid = _proc.stdin.fileno(), _proc.pid
    os.set_blocking(_fd, False)  # never stall chant on a full pipe
    reap.protected.add(_pid)


def _child(read: int) -> None:
    status = 0
    try:
        os.setsid()  # a Ctrl-C or hang-up for chant is not for the watchdog
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, read)
        os.closerange(read + 1, 1 << 16)
        scope: dict[str, object] = {}
        exec(_WATCHDOG, scope)
        scope["watch"](read, reap.prefix())  # type: ignore[operator]
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def disable() -> None:
    """Say goodbye: this process ends cleanly and stops its own steps."""
    global _fd, _pid, _proc
    fd, pid, proc = _fd, _pid, _proc
    _fd = _pid = _proc = None
    if fd is None or pid is None:
        return
    reap.protected.discard(pid)
    with contextlib.suppress(OSError):
        os.set_blocking(fd, True)
        os.write(fd, b"bye\n")
    if proc is not None:
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        return
    with contextlib.suppress(OSError):
        os.close(fd)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def track(pgid: int, pipes: tuple[int, ...] = ()) -> None:
    """Announce a command's process group and the inodes of its output pipes."""
    _send(" ".join(["+", str(pgid), *map(str, pipes)]))


def untrack(pgid: int) -> None:
    _send(f"- {pgid}")


def _send(line: str) -> None:
    if _fd is not None:
        with contextlib.suppress(OSError):
            os.write(_fd, line.encode() + b"\n")
