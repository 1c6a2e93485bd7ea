"""The watchdog of ``chant.activities.guard``: a script of the standard library only,
so that ``python -I -S`` runs it without site-packages.

``_watchdog.py PREFIX`` (where there is no ``/proc``) reads ``+ PGID INODE...`` (a
command started: its process group and the inodes of its output pipes) and ``- PGID``
(it ended) lines from stdin; at end-of-file without a ``bye`` line it stops what is
left. ``_watchdog.py --after-crash PREFIX`` (Linux, run once chant is gone) stops it at
once. What is stopped: the announced groups, every process whose environment carries
the token ``PREFIX``, the groups those lead, and whatever holds their output pipes:
SIGTERM, then SIGKILL 2 s later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time


def proc_pids() -> list[int]:
    """Every process id listed in ``/proc`` (none where there is no ``/proc``).
    ``chant.activities.reap`` uses it too; this module stays standard-library only."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    return [int(entry) for entry in entries if entry.isdigit()]


def tagged(mark: bytes, pipes: set[str]) -> list[int]:
    """Processes whose environment holds ``mark``, or which hold one of ``pipes``."""
    found: list[int] = []
    for pid in proc_pids():
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark in b"\0" + f.read():
                    found.append(pid)
                    continue
            if pipes and _holds(str(pid), pipes):
                found.append(pid)
    return found


def _pipes_of(pids: list[int]) -> set[str]:
    """The pipes on stdout and stderr of ``pids`` (a step's output pipes)."""
    pipes = set()
    for pid in pids:
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("pipe:"):
                    pipes.add(link)
    return pipes


def _leads_group(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return os.getpgid(pid) == pid
    return False


def _holds(entry: str, pipes: set[str]) -> bool:
    for fd in os.listdir(f"/proc/{entry}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{entry}/fd/{fd}") in pipes:
                return True
    return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def watch(fd: int, prefix: str) -> None:
    """Follow announcements on ``fd`` until a goodbye, or stop what remains at EOF."""
    groups: dict[int, list[str]] = {}
    clean, pending = False, b""
    while not clean:
        data = os.read(fd, 4096)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            op, *args = line.split()
            if op == b"+":
                groups[int(args[0])] = [f"pipe:[{a.decode()}]" for a in args[1:]]
            elif op == b"-":
                groups.pop(int(args[0]), None)
            elif op == b"bye":
                clean = True
    if not clean:
        stop(groups, prefix)


def stop(groups: dict[int, list[str]], prefix: str) -> None:
    """Stop the announced ``groups`` and, on Linux, every process carrying the token
    ``prefix``, the groups those lead (members whose environment was replaced), and
    whatever holds the output pipes of those processes."""
    mark = b"\0CHANT_STEP_TOKEN=" + prefix.encode()
    pipes = {p for inodes in groups.values() for p in inodes}
    marked = tagged(mark, set())
    pipes |= _pipes_of(marked)
    leaders = set(groups) | {p for p in marked if _leads_group(p)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in leaders:
            with contextlib.suppress(OSError):
                os.killpg(g, sig)
        for pid in tagged(mark, pipes):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                time.sleep(0.05)
                left = [p for p in tagged(mark, pipes) if _alive(p)]
                if not left and not any(_group_alive(g) for g in leaders):
                    return


if __name__ == "__main__":
    if sys.argv[1] == "--after-crash":  # Linux: the waiting was done by /bin/sh
        stop({}, sys.argv[2])
    else:
        watch(0, sys.argv[1])
