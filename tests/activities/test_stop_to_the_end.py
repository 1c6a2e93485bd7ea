"""Stopping a command is carried to its end, whatever cancels it meanwhile: a second
cancellation (a second Ctrl-C, a fail-fast sibling) kills the group at once instead of
letting it finish its grace, a stop that is itself cancelled (an event loop closing
cancels every task) starts again, and a command cancelled while it was being spawned is
stopped and reaped like any other. Nothing is left running, and no zombie either."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from chant.activities import process
from chant.activities.process import run_command
from chant.activities.registry import ActivityContext
from conftest import alive, zombie_children


def _ctx(grace: float) -> ActivityContext:
    return ActivityContext(
        step_id="s.1", attempt=1, output=lambda line, stream: None, kill_grace=grace
    )


@pytest.fixture(params=[True, False], ids=["pidfd", "asyncio"])
def pidfd(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Commands waited for through pidfds, or through asyncio's child watcher."""
    process._prepare()
    if request.param and not process._pidfd:
        pytest.skip("no pidfd_open here")
    monkeypatch.setattr(process, "_pidfd", request.param)
    return bool(request.param)


def _stubborn(tmp_path: Path) -> list[str]:
    """A shell that ignores SIGTERM (so does what it starts), with a child in its group."""
    return [
        "/bin/sh",
        "-c",
        f"trap '' TERM; echo $$ > {tmp_path}/sh.pid; sleep 300 & echo $! > {tmp_path}/bg.pid; wait",
    ]


async def _started(tmp_path: Path) -> None:
    while not (tmp_path / "bg.pid").is_file() or not (tmp_path / "bg.pid").read_text().strip():
        await asyncio.sleep(0.01)


def _nothing_left(tmp_path: Path, zombies: set[int]) -> None:
    pids = [int((tmp_path / name).read_text()) for name in ("sh.pid", "bg.pid")]
    assert [pid for pid in pids if alive(pid)] == []
    # Reaped too: asyncio's watcher thread may take a moment for the shell.
    deadline = time.monotonic() + 10.0
    while zombie_children(os.getpid()) - zombies and time.monotonic() < deadline:
        time.sleep(0.05)
    assert zombie_children(os.getpid()) - zombies == set()


def test_a_second_cancellation_kills_the_group_at_once_and_leaves_nothing(
    pidfd: bool, tmp_path: Path
) -> None:
    zombies = zombie_children(os.getpid())

    async def go() -> float:
        task = asyncio.ensure_future(run_command(_ctx(grace=60.0), _stubborn(tmp_path)))
        await _started(tmp_path)
        task.cancel()
        await asyncio.sleep(0.3)
        assert not task.done()  # SIGTERM was ignored: 60 s of grace ahead
        task.cancel()
        begun = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - begun

    took = asyncio.run(go())
    assert took < 30.0  # not the 60 s of grace: killed at the second cancellation
    _nothing_left(tmp_path, zombies)


def test_a_stop_cancelled_by_a_closing_loop_starts_again(pidfd: bool, tmp_path: Path) -> None:
    zombies = zombie_children(os.getpid())

    async def go() -> None:
        task = asyncio.ensure_future(run_command(_ctx(grace=0.5), _stubborn(tmp_path)))
        await _started(tmp_path)
        task.cancel()
        await asyncio.sleep(0.1)
        # Returning now, in the grace: asyncio.run cancels every task left, the stop's too.

    asyncio.run(go())
    _nothing_left(tmp_path, zombies)


def test_a_command_cancelled_while_it_is_spawned_is_stopped_and_reaped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    process._prepare()
    monkeypatch.setattr(process, "_pidfd", False)
    spawn = asyncio.create_subprocess_exec

    async def late(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await spawn(*args, **kwargs)
        await asyncio.sleep(0.5)  # the spawn completes late, as on a busy loop
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", late)
    zombies = zombie_children(os.getpid())

    async def go() -> None:
        task = asyncio.ensure_future(run_command(_ctx(grace=0.3), _stubborn(tmp_path)))
        await _started(tmp_path)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    _nothing_left(tmp_path, zombies)
