"""The shell activity against real /bin/sh processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Profile, Retry, phase, shell
from chant.activities.registry import ActivityContext
from chant.activities.shell import shell as shell_activity
from chant.errors import CommandFailedError
from conftest import run_op, wait_gone


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, line: str, stream: str) -> None:
        self.lines.append((stream, line))


def ctx(output: Any = None, **kw: Any) -> ActivityContext:
    return ActivityContext(step_id="s.1", attempt=1, output=output or Lines(), **kw)


def call(cmd: str, **kw: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    lines = Lines()
    result = asyncio.run(asyncio.wait_for(shell_activity(ctx(lines), cmd, **kw), 20))
    return result, lines.lines


ONCE = Retry(max_attempts=1)


def test_returns_exit_code_and_stripped_tails_of_both_streams() -> None:
    result, _ = call("printf 'out1\\nout2  \\n\\n'; printf 'err1\\n' >&2")
    assert result == {"exit_code": 0, "stdout": "out1\nout2", "stderr": "err1"}


def test_each_line_is_streamed_with_its_stream_name() -> None:
    _, lines = call("echo a; echo b >&2; printf 'no-newline'")
    assert sorted(lines) == [("stderr", "b"), ("stdout", "a"), ("stdout", "no-newline")]


def test_lines_arrive_while_the_command_still_runs(tmp_path: Path) -> None:
    go = tmp_path / "go"
    seen: list[str] = []

    def output(line: str, stream: str) -> None:
        # The command waits for this file, so it only finishes if "ready" streamed first.
        seen.append(line)
        if line == "ready":
            go.touch()

    cmd = f"echo ready; while [ ! -f {go} ]; do sleep 0.02; done; echo finished"
    result = asyncio.run(asyncio.wait_for(shell_activity(ctx(output), cmd), 10))
    assert seen == ["ready", "finished"]
    assert result["stdout"] == "ready\nfinished"


def test_env_is_merged_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANT_OUTER", "outer")
    result, _ = call('echo "$CHANT_OUTER $CHANT_INNER"', env={"CHANT_INNER": "inner"})
    assert result["stdout"] == "outer inner"


def test_cwd_sets_the_working_directory(tmp_path: Path) -> None:
    result, _ = call("pwd", cwd=str(tmp_path))
    assert result["stdout"] == str(tmp_path)


def test_non_zero_exit_raises_command_failed_with_code_and_stderr_tail() -> None:
    cmd = "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; exit 7"
    with pytest.raises(CommandFailedError) as err:
        call(cmd)
    assert err.value.type == "CommandFailedError"
    assert err.value.command_exit_code == 7
    assert str(err.value) == ("command exited with 7: line3 | line4 | line5 | line6 | line7")


def test_a_long_output_keeps_only_its_tail() -> None:
    result, lines = call("seq 1 20000")
    assert len(lines) == 20000
    assert result["stdout"].endswith("19999\n20000")
    assert len(result["stdout"]) <= 64 * 1024
    assert not result["stdout"].startswith("1\n")


def test_a_timed_out_step_leaves_no_grandchild(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    cmd = f"sleep 300 & echo $! > {pidfile}; sleep 300"
    profile = Profile(timeout="500ms", retry=ONCE)
    result, _ = run_op(Op(name="t", phases=[phase("A", [shell(cmd, profile=profile)])]))
    assert result.steps[0].error is not None
    assert result.steps[0].error["type"] == "ActivityTimeoutError"
    assert wait_gone(int(pidfile.read_text()))


def test_a_group_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    pidfile = tmp_path / "stubborn.pid"
    cmd = f"trap '' TERM; (trap '' TERM; sleep 300) & echo $! > {pidfile}; sleep 300"
    profile = Profile(timeout="300ms", retry=ONCE)
    result, _ = run_op(
        Op(name="t", phases=[phase("A", [shell(cmd, profile=profile)])]), kill_grace=0.3
    )
    assert result.steps[0].status == "failed"
    assert wait_gone(int(pidfile.read_text()))


def test_a_cancelled_step_leaves_no_grandchild(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    hang = f"sleep 300 & echo $! > {pidfile}; wait"
    fail = f"while [ ! -s {pidfile} ]; do sleep 0.02; done; exit 1"
    op = Op(
        name="c",
        phases=[
            phase(
                "P",
                [shell(hang), shell(fail, profile="policy_check")],
                parallel=True,
                fail_fast=True,
            )
        ],
    )
    result, _ = run_op(op)
    assert [s.status for s in result.steps] == ["cancelled", "failed"]
    assert wait_gone(int(pidfile.read_text()))


def test_background_processes_left_behind_are_stopped_when_the_command_exits(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "bg.pid"
    result, _ = call(f"sleep 300 > /dev/null 2>&1 & echo $! > {pidfile}; echo done")
    assert result["stdout"] == "done"
    assert wait_gone(int(pidfile.read_text()))


def test_it_heartbeats_while_a_silent_command_runs() -> None:
    profile = Profile(timeout="10s", heartbeat_timeout="200ms", retry=ONCE)
    result, _ = run_op(Op(name="h", phases=[phase("A", [shell("sleep 1", profile=profile)])]))
    assert result.steps[0].status == "ok"


def test_the_command_runs_in_its_own_process_group() -> None:
    result, _ = call("ps -o pgid= -p $$; echo $$")
    pgid, pid = result["stdout"].split()
    assert pgid == pid
    assert int(pgid) != os.getpgid(0)


def test_stdin_is_closed_so_a_reader_does_not_hang() -> None:
    result, _ = call("cat; echo after")
    assert result["stdout"] == "after"


def test_a_cancel_while_the_command_is_being_spawned_still_stops_its_group(
    tmp_path: Path,
) -> None:
    # The child can run (and fork) before asyncio has connected its pipes; a cancel in
    # that window must still stop everything it started.
    async def cancel_early(delay: float, pidfile: Path) -> None:
        cmd = f"sleep 300 & echo $! > {pidfile}; wait"
        task = asyncio.ensure_future(shell_activity(ctx(kill_grace=0.5), cmd))
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # Busy loops on both cores make the child win that race often enough to matter.
    hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    try:
        for i in range(30):
            pidfile = tmp_path / f"bg{i}.pid"
            asyncio.run(asyncio.wait_for(cancel_early((i % 10) * 0.002, pidfile), 10))
            if pidfile.exists() and pidfile.read_text().strip():
                assert wait_gone(int(pidfile.read_text())), f"run {i} left its grandchild"
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
