"""A command the event loop waits for through its pidfd (Linux 5.3 and later), whatever
loop and thread it runs in: no watcher thread per child, as asyncio's default watcher
starts on Python 3.11, and no process-wide watcher installed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence


def works() -> bool:
    """Whether this kernel gives pidfds (Linux 5.3 and later, unless a seccomp filter
    refuses them)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel before 5.3, or a seccomp filter refusing it
        return False
    return True


class Child:
    """A command the running event loop waits for through its pidfd (``fd``); with no
    pidfd (-1), ``wait`` polls."""

    __slots__ = ("_exit", "_fd", "_loop", "_popen", "pid")

    def __init__(self, popen: subprocess.Popen[bytes], fd: int) -> None:
        self.pid = popen.pid
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self._exit: asyncio.Future[int] = self._loop.create_future()
        self._fd = fd
        if fd >= 0:
            try:
                self._loop.add_reader(fd, self._reap)
            except NotImplementedError:  # a loop without add_reader
                os.close(fd)
                self._fd = -1

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: asyncio says 255 then
            code = 255
        else:
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
        self._popen.returncode = code
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        if not self._exit.done():
            self._exit.set_result(code)

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """The command's exit code, once it has exited and been reaped."""
        delay = 0.002
        while self._fd < 0 and not self._exit.done():
            self._reap()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return await asyncio.shield(self._exit)

    def close(self) -> None:
        """Reap the command if it has exited; if not, the loop still will when it does."""
        if self._popen.returncode is None and not self._loop.is_closed():
            self._reap()


def start(
    argv: Sequence[str], env: Mapping[bytes, bytes], cwd: str | None, fds: list[int]
) -> Child:
    """Start ``argv`` on the pipes in ``fds`` and ``/dev/null`` (its last entry, whose
    slot the pidfd then takes)."""
    popen = subprocess.Popen(
        argv,
        stdin=fds[4],
        stdout=fds[1],
        stderr=fds[3],
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(fds.pop())
    try:
        fd = os.pidfd_open(popen.pid)
    except OSError:
        fd = -1
    return Child(popen, fd)
