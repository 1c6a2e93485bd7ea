"""Find and stop what a step started after it left the step's process group (Linux).

A command runs in a session of its own, so stopping its process group stops what it
started, unless a process moved to another group or session (``setsid``, ``setpgid``,
a daemon's double fork). Two things find those on Linux:

- **A marker.** Each attempt's command gets ``CHANT_STEP_TOKEN=<token>`` in its
  environment, unique to the attempt; whatever it starts inherits it.
- **The subreaper.** ``prepare()`` makes this process a child subreaper
  (``PR_SET_CHILD_SUBREAPER``): a process whose parent ends is re-parented to chant,
  not to init, whatever group or session it is in. So when a command has ended and its
  group is stopped, everything left of it is in a tree rooted at one of chant's own
  children.

``sweep(token)`` runs when a command ends. When chant has no child but its running
commands (the usual case) it costs one read of ``/proc/self/task/<pid>/children``.
Otherwise it reads the environment of each other child: those carrying the ended
attempt's token (or a token of another attempt already over) are stopped with every
descendant, SIGTERM then SIGKILL after the grace, and reaped. What carries no token is
left alone: the Temporal dev server chant may have started, and anything an
``@activity`` function started itself. On macOS (no ``/proc``, no subreaper) nothing
here applies and only the process group is stopped (``stop_group``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from chant.activities._watchdog import proc_pids

TOKEN = "CHANT_STEP_TOKEN"
"""The environment variable marking every process an attempt's command starts."""
_NONCE = os.urandom(6).hex()
_serial = itertools.count(1)
_LINUX = sys.platform.startswith("linux")

_live_tokens: set[str] = set()
"""Tokens of attempts whose command is starting or running."""
_running: set[int] = set()
"""Pids of running commands (each also its process group)."""
_ended_groups: deque[int] = deque(maxlen=4096)
"""Process groups of ended commands, so that their members' zombies can be reaped."""
protected: set[int] = set()
"""Children of this process no sweep touches (the watchdog)."""
_prepared = False
subreaper = False
"""Whether this process is a child subreaper (set by ``prepare``)."""


def prefix() -> str:
    """The start of every token this process hands out."""
    return f"{_NONCE}-"


def new_token() -> str:
    """A token for one attempt's command, unique in this process and among chant's;
    live (spared by sweeps) until ``ended``."""
    token = f"{_NONCE}-{next(_serial)}"
    _live_tokens.add(token)
    return token


def prepare() -> None:
    """Once per process, before the first command: become a child subreaper (Linux)."""
    global _prepared, subreaper
    if _prepared:
        return
    _prepared = True
    if _LINUX:
        subreaper = _prctl(36, 1) == 0  # PR_SET_CHILD_SUBREAPER


def _prctl(option: int, arg: int) -> int:
    # The bare _ctypes module: `import ctypes` would cost a millisecond of start-up.
    try:
        import _ctypes

        c: Any = _ctypes
        result = type("_Int", (c._SimpleCData,), {"_type_": "i"})
        fn = type("_Fn", (c.CFuncPtr,), {"_flags_": c.FUNCFLAG_CDECL, "_restype_": result})
        libc = type("_Libc", (), {"_handle": c.dlopen(None)})
        return int(fn(("prctl", libc))(option, arg, 0, 0, 0))
    except Exception:
        return -1


def started(pid: int) -> None:
    _running.add(pid)


def ended(token: str, pid: int | None) -> None:
    _live_tokens.discard(token)
    if pid is not None:
        _running.discard(pid)
        _ended_groups.append(pid)


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process remains in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not _LINUX:
        return True
    # killpg also succeeds for zombies nobody has reaped yet; look closer.
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


async def stop_group(pgid: int, grace: float) -> None:
    """SIGTERM every process in group ``pgid``; SIGKILL whatever remains after ``grace``."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    delay = 0.01
    while time.monotonic() < deadline:
        await asyncio.sleep(delay)
        if not group_alive(pgid):
            return
        delay = min(delay * 2, 0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    # Killed is not yet gone: once each has exited, what it left is this process's to
    # reap (however loaded the machine), not still a child of a dying process.
    deadline = time.monotonic() + SETTLE
    while group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def children(pid: int, *, all_threads: bool = True) -> list[int]:
    """The children of process ``pid`` (Linux)."""
    if not _HAS_CHILDREN_FILES:  # a kernel without CONFIG_PROC_CHILDREN: look at all
        return _children_by_scan(pid)
    tids = [str(pid)]
    if all_threads:
        with contextlib.suppress(OSError):
            tids = os.listdir(f"/proc/{pid}/task")
    found = []
    for tid in tids:
        data = _read(f"/proc/{pid}/task/{tid}/children")
        if data:
            found += [int(p) for p in data.split()]
    return found


def _children_by_scan(pid: int) -> list[int]:
    found: list[int] = []
    for entry in proc_pids():
        data = _read(f"/proc/{entry}/stat")
        if data and int(data[data.rfind(b")") + 2 :].split()[1]) == pid:
            found.append(entry)
    return found


def _stat(pid: int) -> tuple[str, int] | None:
    """``pid``'s state letter and process group."""
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[2])


def _token_in(env: bytes) -> str | None:
    """The step token in an environment as ``/proc/PID/environ`` shows it, if any."""
    env = b"\0" + env
    key = b"\0" + TOKEN.encode() + b"="
    at = env.find(key)
    if at < 0:
        return None
    start = at + len(key)
    end = env.find(b"\0", start)
    return env[start : end if end >= 0 else len(env)].decode(errors="replace")


def adopted() -> list[int]:
    """This process's children other than running commands and protected ones. The
    orphans a subreaper adopts are children of its main thread."""
    me = os.getpid()
    return [p for p in children(me, all_threads=False) if p not in _running and p not in protected]


async def sweep(token: str, grace: float, *, group: int, pipes: tuple[int, ...] = ()) -> None:
    """Stop what is left, outside its process ``group``, of the attempt marked ``token``
    (and of any attempt of this process already over), and reap it. A process whose
    environment was replaced is still the attempt's if it holds one of its ``pipes``
    (inode numbers)."""
    if not subreaper:
        return
    victims, pending = _victims(token, group, pipes)
    # A process in the middle of an exec shows no environment until the kernel has set
    # up its new one: wait for it (however loaded the machine) rather than take it for
    # one without a token.
    deadline = time.monotonic() + SETTLE
    delay = 0.001
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
        victims, pending = _victims(token, group, pipes)
    if victims:
        # Found again on each round: a process forked just before its parent was
        # stopped is re-parented to chant, out of reach of the first tree.
        await stop_trees(victims, grace, lambda: _victims(token, group, pipes)[0])


SETTLE = 10.0
"""Seconds a sweep waits at most for a process in the middle of an exec to show its
new environment (it takes well under a millisecond on an idle machine)."""


def _victims(token: str, group: int, pipes: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """The processes to stop, and those that cannot be judged yet (in an exec)."""
    # Children are read again until no new one shows: a process that was alive when
    # the list was read may have forked and exited since (a double fork), and its
    # child, adopted by chant before it showed as a zombie, is only in a later list.
    mine = prefix()
    victims: list[int] = []
    pending: list[int] = []
    seen: set[int] = set()
    for _ in range(16):  # bounded: stop_trees looks again on each of its rounds anyway
        kids = [p for p in adopted() if p not in seen]
        if not kids:
            break
        seen.update(kids)
        _judge(kids, token, group, pipes, mine, victims, pending)
    return victims, pending


def _judge(
    kids: list[int],
    token: str,
    group: int,
    pipes: tuple[int, ...],
    mine: str,
    victims: list[int],
    pending: list[int],
) -> None:
    """Add to ``victims`` those of ``kids`` that are the attempt's (or an ended one's),
    to ``pending`` those in the middle of an exec; reap the zombies of ended commands."""
    for pid in kids:
        stat = _stat(pid)
        if stat is None:
            continue
        state, pgid = stat
        if state in "ZX":
            if pgid == group or pgid in _ended_groups:
                _reap(pid)
            continue
        found = _environment_token(pid)
        if found is _EXECING:
            pending.append(pid)
            continue
        if found is None:
            ours = bool(pipes) and _holds(pid, pipes)
        else:
            ours = found == token or (found.startswith(mine) and found not in _live_tokens)
        if ours:
            victims.append(pid)


_EXECING = "\0execing"
"""``_environment_token``'s answer for a process whose new environment is not set up yet."""


def _environment_token(pid: int) -> str | None:
    """The step token in ``pid``'s environment, if any; ``_EXECING`` while ``pid`` is in
    the middle of an exec. ``/proc/PID/environ`` then reads empty, as for an empty
    environment (``env -i``), but ``/proc/PID/stat`` tells them apart: the environment's
    end is still 0 in an exec, and its start and end are equal only when it is really
    empty (``setsid sh -c …`` execs twice: a read may fall in either). A process this one
    may not inspect (a set-user-ID program) shows no environment: None."""
    env = _read(f"/proc/{pid}/environ")
    if env:
        return _token_in(env)
    data = _read(f"/proc/{pid}/stat") if env is not None else None
    if data is None:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    if len(fields) >= 49 and fields[48] != b"0" and fields[47] == fields[48]:
        return None  # env_start == env_end (fields 50 and 51 of proc_pid_stat(5)): empty
    return _EXECING


def _holds(pid: int, pipes: tuple[int, ...]) -> bool:
    """Whether ``pid`` has one of ``pipes`` open."""
    wanted = {f"pipe:[{inode}]" for inode in pipes}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
    return False


async def sweep_leftovers(grace: float) -> None:
    """At the end of a run or worker: stop whatever any of this process's attempts left
    (a process forked while its tree was being stopped is swept here at the latest)."""
    await sweep("", grace, group=-1)


def descendants(roots: list[int]) -> set[int]:
    """``roots`` and every process below them."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += children(pid)
    return seen


def _live(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        stat = _stat(pid)
        if stat is not None and stat[0] not in "ZX":
            alive.add(pid)
    return alive


async def stop_trees(
    roots: list[int], grace: float, more: Callable[[], list[int]] | None = None
) -> None:
    """SIGTERM ``roots`` and their descendants (also those they start meanwhile),
    SIGKILL what is left after ``grace`` seconds, and reap those that are children of
    this process."""
    signalled: set[int] = set()
    deadline = time.monotonic() + grace
    sig = signal.SIGTERM
    delay = 0.01
    while True:
        if more is not None:
            roots = sorted(set(roots) | set(more()))
        tree = _live(descendants(roots) | signalled)
        for pid in tree - signalled if sig == signal.SIGTERM else tree:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        signalled |= tree
        if not tree or sig == signal.SIGKILL:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
        if time.monotonic() >= deadline:
            sig = signal.SIGKILL
    # Reap what was this process's child, or became one when its parent died.
    deadline = time.monotonic() + 1.0
    while signalled and time.monotonic() < deadline:
        signalled = {p for p in signalled if not _reap(p) and os.path.exists(f"/proc/{p}")}
        if signalled:
            await asyncio.sleep(0.01)


def _reap(pid: int) -> bool | None:
    """Reap ``pid`` if it is a zombie child of this process: True when reaped, False
    when it is a child still running, None when it is not a child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return done == pid
