"""Run a command in its own process group, stream its lines, and leave nothing behind.

Every command-running activity goes through ``run_command``. The command gets a new
session (so a new process group whose id is its pid) and ``CHANT_STEP_TOKEN`` in its
environment (``chant.activities.reap``). A step is over when its command exits: then
whatever it left running in its group is stopped (SIGTERM, then SIGKILL after
``ctx.kill_grace`` seconds), so is anything carrying its token that left the group
(Linux), the pipes are read to their current end and closed, and the command's own
exit code is the result, even if an escaped process still holds a pipe. When the
attempt is cancelled or times out, the same happens before the cancellation goes on.

Output is read as it comes, linear in its size: lines are split at ``\n`` (a
``\r\n`` ending counts as one), a lone ``\r`` starts the line over as on a terminal
(only what follows the last one is kept: a progress bar yields its final state), and a
line longer than ``LINE_LIMIT`` characters is cut into pieces of at most that length.
Secrets are masked (``ctx.masker``) before a line is kept or emitted, and a cut never
falls inside a secret.

Children in flight are bounded by the open-file budget, after raising the soft limit
of open files towards the hard one once: a step waits for a slot, or retries its
spawn, instead of failing for ``EMFILE``.

On Linux (5.3 and later) the event loop waits for a command through its pidfd, whatever
loop and thread it runs in (a local run's, a Temporal worker's): no watcher thread per
child, as asyncio's default watcher starts on Python 3.11, and no process-wide watcher
installed. Elsewhere ``asyncio.create_subprocess_exec`` starts and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from chant.activities import guard, pidfd, reap
from chant.activities.registry import ActivityContext
from chant.activities.streams import Stream
from chant.errors import CommandFailedError, ToolNotFoundError

FD_LIMIT_CAP = 65536
"""The soft limit of open files is raised towards the hard limit, up to this."""
FDS_PER_COMMAND = 4
"""Open files a running command costs this process (its two pipes and its pidfd, and room
to spawn)."""
_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM)


class CommandResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


async def _heartbeat_loop(ctx: ActivityContext, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        ctx.heartbeat()


async def _stop_leftovers(
    proc: asyncio.subprocess.Process | pidfd.Child, token: str, grace: float, pipes: tuple[int, int]
) -> None:
    """Stop what the command ``proc`` left (all of it, itself too if it still runs): its
    group, then what escaped it (``pipes``: the inodes of its output pipes)."""
    pid = proc.pid
    if reap.group_alive(pid):
        await reap.stop_group(pid, grace)
    if proc.returncode is None:
        # Reaped first (not by a loop that may be closing): what it started and that
        # outlived it is then this process's child, which the sweep reaps.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 1.0)
    await reap.sweep(token, grace, group=pid, pipes=pipes)


async def _stop_to_the_end(
    proc: asyncio.subprocess.Process | pidfd.Child, token: str, grace: float, pipes: tuple[int, int]
) -> None:
    """``_stop_leftovers``, carried to its end whatever cancels it meanwhile: a stop cut
    short leaves the step's processes running. A further cancellation of the attempt (a
    second Ctrl-C, a fail-fast sibling after a timeout) kills the group at once instead of
    after the grace, and is raised once the stop is over; the stop itself cancelled (a
    closing event loop cancels every task) starts again."""
    again = False
    for _ in range(3):
        stopping = asyncio.ensure_future(_stop_leftovers(proc, token, grace, pipes))
        again = await _outlast(stopping, lambda: _kill_group(proc.pid)) or again
        if not stopping.cancelled():
            break
    if again:
        raise asyncio.CancelledError
    stopping.result()


async def _outlast(fut: asyncio.Future[Any], on_cancel: Callable[[], None]) -> bool:
    """Wait until ``fut`` is done, calling ``on_cancel`` each time this task is cancelled
    meanwhile; whether it was."""
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            if not fut.done():  # this task was cancelled, not ``fut``
                cancelled = True
                on_cancel()
        except BaseException:  # ``fut``'s own error: the caller reads it
            pass
    return cancelled


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


_slots = 0
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


_pidfd = False
"""Whether commands are waited for through a pidfd (set by ``_prepare``)."""


def _prepare() -> None:
    """Once per process: become a subreaper, raise the open-file limit, size the number
    of commands that may run at once to it, and see whether pidfds work."""
    global _slots, _pidfd
    if _slots:
        return
    reap.prepare()
    _pidfd = pidfd.works()
    soft = raise_fd_limit()
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 32
    _slots = max(1, (soft - in_use - 64) // FDS_PER_COMMAND)


def raise_fd_limit() -> int:
    """Raise the soft limit of open files towards the hard one (at most
    ``FD_LIMIT_CAP``); return the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FD_LIMIT_CAP if hard == resource.RLIM_INFINITY else min(hard, FD_LIMIT_CAP)
    for target in (want, 10240):  # macOS refuses more than OPEN_MAX (10240)
        if soft >= target:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            continue
    return soft


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_slots)
    return gate


async def _spawn(
    ctx: ActivityContext,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    cwd: str | None,
    token: str,
) -> tuple[asyncio.subprocess.Process | pidfd.Child, int, int]:
    """Start ``argv`` with both output streams on pipes of ours; return it and the read
    ends. Out of descriptors or processes, wait and try again (the attempt's timeout
    bounds the wait); never fail the step for that."""
    delay = 0.01
    while True:
        fds: list[int] = []
        proc: asyncio.subprocess.Process | pidfd.Child
        try:
            fds += os.pipe()
            fds += os.pipe()
            if _pidfd:
                fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
                proc = pidfd.start(argv, env, cwd, fds)
            else:
                proc = await _create(ctx, argv, env, cwd, fds, token)
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            if exc.errno not in _RESOURCE_ERRORS:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        os.close(fds[1])
        os.close(fds[3])
        return proc, fds[0], fds[2]


async def _create(
    ctx: ActivityContext,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    cwd: str | None,
    fds: list[int],
    token: str,
) -> asyncio.subprocess.Process:
    """Start ``argv`` through asyncio, on the pipes in ``fds``, marked with ``token``."""
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=fds[1],
            stderr=fds[3],
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    )
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # The command may already be running (and have started children); let the
        # spawn finish, then stop and reap what it left, as at the end of any attempt.
        await _outlast(spawn, lambda: None)
        if spawn.cancelled() or spawn.exception() is not None:
            raise
        proc = spawn.result()
        reap.started(proc.pid)
        pipes = (os.fstat(fds[0]).st_ino, os.fstat(fds[2]).st_ino)
        try:
            await _stop_to_the_end(proc, token, ctx.kill_grace, pipes)
        finally:
            _close(proc)
            reap.ended(token, proc.pid)
        raise


async def run_command(
    ctx: ActivityContext,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    raw_lines: bool = False,
) -> CommandResult:
    """Run ``argv`` until it exits, streaming each line through ``ctx.output``.

    ``env`` is merged over the current environment. Cancellation (timeout, fail-fast,
    Ctrl-C) stops the whole process group, and what escaped it, before re-raising.
    ``raw_lines`` passes lines on whole, ``\r`` included, for output that is data.
    """
    _prepare()
    token = reap.new_token()
    full_env = {**_environb(), **_encoded(env), reap.TOKEN.encode(): token.encode()}
    async with _gate():
        try:
            proc, out_fd, err_fd = await _spawn(ctx, argv, full_env, cwd, token)
        except BaseException:
            reap.ended(token, None)
            raise
        reap.started(proc.pid)
        guard.track(proc.pid)
        pipes = (os.fstat(out_fd).st_ino, os.fstat(err_fd).st_ino)
        out = Stream(out_fd, "stdout", ctx, raw=raw_lines)
        err = Stream(err_fd, "stderr", ctx, raw=raw_lines)
        beat = (
            asyncio.ensure_future(_heartbeat_loop(ctx, ctx.heartbeat_interval))
            if ctx.heartbeat_interval
            else None
        )
        try:
            code = await proc.wait()
            await _stop_leftovers(proc, token, ctx.kill_grace, pipes)
        except BaseException:  # a stop cut short here starts again, to its end
            ctx.cancelled.set()
            await _stop_to_the_end(proc, token, ctx.kill_grace, pipes)
            raise
        finally:
            if beat is not None:
                beat.cancel()
            out.close()
            err.close()
            _close(proc)
            reap.ended(token, proc.pid)
            guard.untrack(proc.pid)
    return CommandResult(code, out.tail.text(), err.tail.text())


def _environb() -> Mapping[bytes, bytes]:
    """This process's environment as bytes, as it is kept: on POSIX the dict behind
    ``os.environ`` (copying it costs a microsecond, against 25 through the mapping's
    Python-level ``__getitem__`` for 36 variables)."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return data
    return os.environb


def _encoded(env: Mapping[str, str] | None) -> dict[bytes, bytes]:
    return {os.fsencode(k): os.fsencode(v) for k, v in env.items()} if env else {}


def _close(proc: asyncio.subprocess.Process | pidfd.Child) -> None:
    """Close the transport now rather than when it is garbage-collected, which may be
    after the event loop has closed."""
    if isinstance(proc, pidfd.Child):
        proc.close()
        return
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


def require_tool(name: str, install: str) -> str:
    """The full path of command ``name``, or a non-retryable ``ToolNotFoundError`` saying
    how to ``install`` it."""
    import shutil

    path = shutil.which(name)
    if path is None:
        raise ToolNotFoundError(f"{name} is not on PATH; {install}")
    return path


async def run_tool(
    ctx: ActivityContext,
    argv: Sequence[str],
    *,
    install: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stderr_lines: int = 5,
) -> CommandResult:
    """Run ``argv`` (no shell) after checking its tool is on PATH; a non-zero exit raises
    ``CommandFailedError`` naming the tool, the code and the last stderr lines."""
    require_tool(argv[0], install)
    result = await run_command(ctx, argv, env=env, cwd=cwd)
    if result.exit_code != 0:
        raise CommandFailedError(
            failure_message(argv[0], result, stderr_lines), exit_code=result.exit_code
        )
    return result


def failure_message(what: str, result: CommandResult, lines: int = 5) -> str:
    last = result.stderr.splitlines()[-lines:]
    detail = ": " + " | ".join(line.strip() for line in last) if last else ""
    return f"{what} exited with {result.exit_code}{detail}"
