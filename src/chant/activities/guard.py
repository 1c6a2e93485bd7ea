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
fresh ``python -I -S`` process. Either runs ``chant.activities._watchdog``. Children
are spawned with ``start_new_session``; ``preexec_fn`` (for PR_SET_PDEATHSIG) can
deadlock a forked child of a multi-threaded process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

from chant.activities import reap

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
"""Signals that stop chant gracefully (its steps first): Ctrl-C, ``kill``, a closed
terminal, Ctrl-\\."""

_fd: int | None = None
_pid: int | None = None
_proc: subprocess.Popen[bytes] | None = None


def enable(*, fork: bool = False) -> None:
    """Start the watchdog for this process (once); ``fork`` only before any thread."""
    global _fd, _pid, _proc
    if _fd is not None:
        return
    reap_exited()
    if fork:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the watchdog
            _child(read)
        os.close(read)
        _fd, _pid = write, pid
    else:
        _proc = subprocess.Popen(
            [sys.executable, "-I", "-S", _watchdog_script(), reap.prefix()],
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
        from chant.activities._watchdog import watch

        watch(read, reap.prefix())
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _watchdog_script() -> str:
    return os.path.join(os.path.dirname(__file__), "_watchdog.py")


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
    _exited.append(pid)
    reap_exited()


_exited: list[int] = []


def reap_exited() -> None:
    """Reap forked watchdogs told goodbye that have exited (not waiting for them: the
    run is over, and a watchdog ends within milliseconds of its goodbye)."""
    for pid in list(_exited):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                continue
        _exited.remove(pid)


def track(pgid: int, pipes: tuple[int, ...] = ()) -> None:
    """Announce a command's process group and the inodes of its output pipes."""
    _send(" ".join(["+", str(pgid), *map(str, pipes)]))


def untrack(pgid: int) -> None:
    _send(f"- {pgid}")


def _send(line: str) -> None:
    if _fd is not None:
        with contextlib.suppress(OSError):
            os.write(_fd, line.encode() + b"\n")
