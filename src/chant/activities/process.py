"""Run a command in its own process group, stream its lines, and leave nothing behind.

Every command-running activity goes through ``run_command``. The command gets a new
session (so a new process group whose id is its pid). When the attempt is cancelled
or times out, the whole group gets SIGTERM, then SIGKILL after ``ctx.kill_grace``
seconds. When the command exits by itself, anything it left running in its group is
stopped the same way: nothing a step starts outlives it. (A process that makes a new
session of its own with ``setsid`` leaves the group and is beyond this reach.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chant.activities import guard
from chant.activities.registry import ActivityContext
from chant.errors import CommandFailedError, ToolNotFoundError

TAIL_CHARS = 64 * 1024
"""How much of each stream a result keeps (the end of it)."""


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str


class _Tail:
    """The last ``limit`` characters of a stream, kept as whole lines where possible."""

    def __init__(self, limit: int = TAIL_CHARS) -> None:
        self.lines: deque[str] = deque()
        self.size = 0
        self.limit = limit

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > self.limit and len(self.lines) > 1:
            self.size -= len(self.lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self.lines).rstrip()[-self.limit :]


async def _pump(stream: asyncio.StreamReader, name: str, tail: _Tail, ctx: ActivityContext) -> None:
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            tail.add(line)
            ctx.output(line, name)
        ctx.heartbeat()
    if pending:
        line = pending.decode("utf-8", "replace")
        tail.add(line)
        ctx.output(line, name)


async def _heartbeat_loop(ctx: ActivityContext, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        ctx.heartbeat()


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process remains in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not sys.platform.startswith("linux"):
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
        if not _group_alive(pgid):
            return
        delay = min(delay * 2, 0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def run_command(
    ctx: ActivityContext,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CommandResult:
    """Run ``argv`` to completion, streaming each line through ``ctx.output``.

    ``env`` is merged over the current environment. Cancellation (timeout, fail-fast,
    Ctrl-C) stops the whole process group before re-raising.
    """
    full_env = {**os.environ, **env} if env else None
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    )
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # The command may already be running (and have started children) before its
        # pipes are connected; asyncio would kill only the direct child. Let the spawn
        # finish, then stop the whole group.
        proc = await spawn
        await stop_group(proc.pid, ctx.kill_grace)
        _close(proc)
        raise
    guard.track(proc.pid)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Tail(), _Tail()
    readers = asyncio.gather(
        _pump(proc.stdout, "stdout", out, ctx), _pump(proc.stderr, "stderr", err, ctx)
    )
    beat = (
        asyncio.ensure_future(_heartbeat_loop(ctx, ctx.heartbeat_interval))
        if ctx.heartbeat_interval
        else None
    )
    try:
        code = await proc.wait()
        if _group_alive(proc.pid):
            await stop_group(proc.pid, ctx.kill_grace)
        await readers
    except BaseException:
        ctx.cancelled.set()
        await asyncio.shield(stop_group(proc.pid, ctx.kill_grace))
        # The group is gone, so the pipes reach EOF; a process that escaped with setsid
        # may still hold them, hence the bound.
        await asyncio.wait([readers], timeout=1.0)
        readers.cancel()
        raise
    finally:
        if beat is not None:
            beat.cancel()
        _close(proc)
        guard.untrack(proc.pid)
    return CommandResult(code, out.text(), err.text())


def _close(proc: asyncio.subprocess.Process) -> None:
    """Close the transport now rather than when it is garbage-collected, which may be
    after the event loop has closed."""
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
