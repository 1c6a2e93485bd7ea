"""run_command against real processes: a step ends when its command exits, nothing it
started survives it (whatever group or session it moved to), and output handling is
linear in bytes, bounded per line and never cuts a secret."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Profile, Retry, phase, shell
from chant.activities import process
from chant.activities.process import CommandResult, run_command
from chant.activities.registry import ActivityContext
from chant.activities.shell import shell as shell_activity
from chant.activities.streams import LINE_LIMIT
from chant.errors import CommandFailedError
from chant.events import Masker
from conftest import alive, run_op, wait_gone, zombie_children

QUICK = Profile(timeout="4s", retry=Retry(max_attempts=3, initial_interval="100ms"))

DOUBLE_FORK = (
    "python3 -c 'import os, sys, time\n"
    "if os.fork(): sys.exit(0)\n"
    "os.setsid()\n"
    "if os.fork(): sys.exit(0)\n"
    'open(sys.argv[1], "w").write(str(os.getpid()))\n'
    "time.sleep(60)' {pid}"
)

# Each leaves a process behind that still holds stdout or stderr (or both), in the
# step's group or out of it.
LEFT_BEHIND = {
    "background": "sleep 60 & echo $! > {pid}",
    "background-stderr-only": "sleep 60 >/dev/null & echo $! > {pid}",
    "background-stdout-only": "sleep 60 2>/dev/null & echo $! > {pid}",
    "nohup": "nohup sleep 60 2>/dev/null & echo $! > {pid}",
    "subshell": "(sleep 60 & echo $! > {pid})",
    "setsid": "setsid sleep 60 & echo $! > {pid}",
    "setsid-stderr-only": "setsid sleep 60 >/dev/null & echo $! > {pid}",
    "setsid-env-cleared": "env -i setsid sleep 60 & echo $! > {pid}",
    "double-fork-setsid": DOUBLE_FORK,
    "setpgid": "python3 -c 'import os, time; os.setpgid(0, 0); time.sleep(60)' & echo $! > {pid}",
}


def _pid(path: Path, seconds: float = 5.0) -> int:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return int(path.read_text())


@pytest.mark.parametrize("how", list(LEFT_BEHIND))
def test_a_step_ends_when_its_command_exits_and_nothing_it_left_survives(
    how: str, tmp_path: Path
) -> None:
    pid_file, log = tmp_path / "bg.pid", tmp_path / "attempts.log"
    cmd = LEFT_BEHIND[how].format(pid=pid_file) + f"; echo started; date >> {log}"
    started = time.monotonic()
    result, _ = run_op(Op(name="bg", phases=[phase("Work", [shell(cmd, profile=QUICK)])]))
    took = time.monotonic() - started
    step = result.steps[0]
    assert (step.status, step.attempts, step.error) == ("ok", 1, None)
    assert step.result == {"exit_code": 0, "stdout": "started", "stderr": ""}
    assert len(log.read_text().splitlines()) == 1  # never run again
    assert took < 3.5, f"the step took {took:.1f}s: it waited for the pipe, not the command"
    assert wait_gone(_pid(pid_file), 3.0), f"{how}: the background process survived"


def test_the_commands_own_exit_code_is_reported_not_a_timeout(tmp_path: Path) -> None:
    cmd = f"setsid sleep 60 & echo $! > {tmp_path}/bg.pid; echo oops >&2; exit 3"
    once = Profile(timeout="4s", retry=Retry(max_attempts=1))
    result, _ = run_op(Op(name="code", phases=[phase("Work", [shell(cmd, profile=once)])]))
    step = result.steps[0]
    assert step.status == "failed"
    assert step.error == {"type": "CommandFailedError", "message": "command exited with 3: oops"}
    assert wait_gone(_pid(tmp_path / "bg.pid"), 3.0)


def test_an_escaped_process_is_stopped_when_its_step_times_out(tmp_path: Path) -> None:
    cmd = f"setsid sleep 60 & echo $! > {tmp_path}/bg.pid; sleep 60"
    short = Profile(timeout="1s", retry=Retry(max_attempts=1))
    result, _ = run_op(Op(name="t", phases=[phase("Work", [shell(cmd, profile=short)])]))
    assert result.steps[0].error is not None
    assert result.steps[0].error["type"] == "ActivityTimeoutError"
    assert wait_gone(_pid(tmp_path / "bg.pid"), 3.0)


def test_an_escaped_process_that_writes_nowhere_is_still_found_by_its_token(
    tmp_path: Path,
) -> None:
    cmd = f"setsid sh -c 'sleep 60' >/dev/null 2>&1 & echo $! > {tmp_path}/bg.pid"
    result, _ = run_op(Op(name="quiet", phases=[phase("Work", [shell(cmd, profile=QUICK)])]))
    assert result.steps[0].status == "ok"
    assert wait_gone(_pid(tmp_path / "bg.pid"), 3.0)


def test_a_parallel_siblings_escaped_processes_live_until_that_sibling_ends(
    tmp_path: Path,
) -> None:
    # Sibling "long" leaves the group at once; "short" ends first and must spare it.
    long = (
        f"setsid sleep 60 >/dev/null 2>&1 & echo $! > {tmp_path}/long.pid; "
        f"while [ ! -f {tmp_path}/short.done ]; do sleep 0.05; done; sleep 0.3; "
        f"kill -0 $(cat {tmp_path}/long.pid) && echo still-alive"
    )
    short = f"setsid sleep 60 >/dev/null 2>&1 & echo $! > {tmp_path}/short.pid"
    done = f"touch {tmp_path}/short.done"
    op = Op(
        name="siblings",
        phases=[
            phase(
                "Both",
                [shell(long, profile=QUICK), shell(f"{short}; sleep 0.2; {done}", profile=QUICK)],
                parallel=True,
            )
        ],
    )
    result, _ = run_op(op)
    assert [s.status for s in result.steps] == ["ok", "ok"]
    assert result.steps[0].result["stdout"] == "still-alive"  # type: ignore[index]
    for name in ("long", "short"):
        assert wait_gone(_pid(tmp_path / f"{name}.pid"), 3.0)


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, line: str, stream: str) -> None:
        self.lines.append((stream, line))


def _run(cmd: str, masker: Masker | None = None) -> tuple[Any, list[str]]:
    lines = Lines()
    ctx = ActivityContext(step_id="s.1", attempt=1, output=lines, masker=masker)
    result = asyncio.run(asyncio.wait_for(run_command(ctx, ["/bin/sh", "-c", cmd]), 30))
    return result, [line for stream, line in lines.lines if stream == "stdout"]


def test_a_lone_carriage_return_starts_the_line_over() -> None:
    _, lines = _run(r"printf 'a\rb\r\nprogress 1%%\rprogress 100%%\ndone\r'")
    assert lines == ["b", "progress 100%", "done"]


def test_a_carriage_return_and_newline_split_across_reads_end_one_line() -> None:
    _, lines = _run(r"printf 'first\r'; sleep 0.2; printf '\nsecond\n'")
    assert lines == ["first", "second"]


def test_an_over_long_line_is_cut_into_pieces_of_the_documented_length() -> None:
    result, lines = _run(f"head -c {LINE_LIMIT * 2 + 10} /dev/zero | tr '\\0' x")
    assert [len(line) for line in lines] == [LINE_LIMIT, LINE_LIMIT, 10]
    assert result.stdout == "x" * (64 * 1024 - 11) + "\n" + "x" * 10  # the last 64 KiB


SECRET = "s3cr3t-v4lu3-xyz"


def _fragments(secret: str, size: int = 4) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


@pytest.mark.parametrize("offset", [-len(SECRET) + 1, -8, -1, 0, 1])
def test_a_cut_never_splits_a_secret(offset: int) -> None:
    before = LINE_LIMIT + offset
    cmd = f"head -c {before} /dev/zero | tr '\\0' a; printf '{SECRET}'; printf 'bbb\\n'"
    result, lines = _run(cmd, Masker([SECRET]))
    assert "".join(lines).count("***") == 1
    for text in [*lines, result.stdout]:
        for piece in _fragments(SECRET):
            assert piece not in text


def test_a_secret_split_across_reads_is_masked() -> None:
    cmd = f"printf 'key {SECRET[:5]}'; sleep 0.2; printf '{SECRET[5:]} end\\n'"
    result, lines = _run(cmd, Masker([SECRET]))
    assert lines == ["key *** end"]
    assert result.stdout == "key *** end"


def test_the_result_tail_is_masked_before_it_is_cut() -> None:
    # Many lines with the secret: the 64 KiB tail starts somewhere inside one of them.
    cmd = f"i=0; while [ $i -lt 5000 ]; do echo 'xx {SECRET} yy'; i=$((i+1)); done"
    result, _ = _run(cmd, Masker([SECRET]))
    for piece in _fragments(SECRET):
        assert piece not in result.stdout


LONG_LINE = """
import asyncio, resource, sys, time
from chant.activities.registry import ActivityContext
from chant.activities.shell import shell

count = [0, 0]
def output(line, stream):
    count[0] += 1
    count[1] = max(count[1], len(line))

async def main():
    ctx = ActivityContext(step_id="s.1", attempt=1, output=output)
    started = time.monotonic()
    await shell(ctx, sys.argv[1])
    print(time.monotonic() - started, count[0], count[1],
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("what", "cmd", "lines"),
    [
        ("no newline", "head -c 33554432 /dev/zero | tr '\\0' x", 512),
        ("progress bar", "yes '12%' | head -c 33554432 | tr '\\n' '\\r'", 1),
    ],
)
def test_a_32_mib_line_takes_linear_time_and_bounded_memory(
    what: str, cmd: str, lines: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LONG_LINE), cmd],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seconds, count, longest, rss_mib = done.stdout.split()
    assert int(count) == lines
    assert int(longest) <= LINE_LIMIT
    # Generous bounds: the quadratic reader took ~9 s and 180 MiB.
    assert float(seconds) < 8, f"{what}: {seconds}s"
    assert int(rss_mib) < 120, f"{what}: {rss_mib} MiB"


def test_a_command_that_cannot_start_fails_as_before() -> None:
    ctx = ActivityContext(step_id="s.1", attempt=1, output=Lines())
    with pytest.raises(FileNotFoundError):
        asyncio.run(run_command(ctx, ["/nonexistent/tool"]))


def test_a_non_zero_exit_still_names_the_code() -> None:
    ctx = ActivityContext(step_id="s.1", attempt=1, output=Lines())
    with pytest.raises(CommandFailedError, match="command exited with 4"):
        asyncio.run(shell_activity(ctx, "sleep 30 & exit 4"))


FDS = """
import resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))
sys.exit(subprocess.run(sys.argv[1:]).returncode)
"""


@pytest.mark.parametrize(
    ("limit", "steps", "cmd"),
    [(256, 300, "sleep 0.2"), pytest.param(1024, 2000, "true", marks=pytest.mark.stress)],
)
def test_a_wide_parallel_phase_completes_under_a_low_open_file_limit(
    tmp_path: Path, limit: int, steps: int, cmd: str
) -> None:
    project = tmp_path / "proj"
    (project / "ops").mkdir(parents=True)
    (project / "ops" / "wide.op.py").write_text(
        "from chant import Op, phase, shell\n"
        f"wide = Op(name='wide', phases=[phase('All', [shell({cmd!r}) for _ in range({steps})],"
        " parallel=True)])\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FDS.format(limit=limit),
            sys.executable,
            "-m",
            "chant",
            "run",
            "wide",
            "--local",
            "--progress-json",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"status": "ok"') + done.stdout.count('"status":"ok"') >= steps
    assert "step_retrying" not in done.stdout
    assert "Too many open files" not in done.stdout + done.stderr


def test_chant_is_a_child_subreaper_once_it_has_run_a_command() -> None:
    _run("true")
    status = Path("/proc/self/status").read_text()
    # There is no /proc field for it; prctl(PR_GET_CHILD_SUBREAPER) through ctypes.
    import ctypes

    value = ctypes.c_int()
    ctypes.CDLL(None).prctl(37, ctypes.byref(value), 0, 0, 0)
    assert value.value == 1, status


def _zombie_children() -> set[int]:
    return zombie_children(os.getpid())


def _tagged_sleepers() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                env = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if cmdline == b"sleep\x0060\x00" and b"CHANT_STEP_TOKEN=" in env and alive(int(entry)):
                found.append(int(entry))
    return found


def test_nothing_is_left_running_or_unreaped_after_many_escaping_steps() -> None:
    zombies = _zombie_children()
    cmd = "(setsid sleep 60 &); (sleep 60 &); nohup sleep 60 >/dev/null 2>&1 & echo ok"
    steps = [shell(cmd, profile=QUICK) for _ in range(10)]
    result, _ = run_op(Op(name="many", phases=[phase("Many", steps, parallel=True)]))
    assert {s.status for s in result.steps} == {"ok"}
    assert _tagged_sleepers() == []
    assert _zombie_children() - zombies == set()


@pytest.fixture(params=[True, False], ids=["pidfd", "asyncio"])
def pidfd(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Commands waited for through pidfds, or through asyncio's child watcher."""
    _run("true")  # process._prepare has found out whether pidfds work here
    if request.param and not process._pidfd:
        pytest.skip("no pidfd_open here")
    monkeypatch.setattr(process, "_pidfd", request.param)
    return bool(request.param)


def _many(cmds: list[str], seconds: float, grace: float = 2.0) -> tuple[list[CommandResult], int]:
    """Run ``cmds`` all at once through ``run_command`` within ``seconds``; their results,
    and the most threads this process had meanwhile."""
    most = threading.active_count()

    async def count() -> None:
        nonlocal most
        while True:
            most = max(most, threading.active_count())
            await asyncio.sleep(0.01)

    async def go() -> list[CommandResult]:
        counter = asyncio.ensure_future(count())
        try:
            return await asyncio.wait_for(
                asyncio.gather(
                    *(
                        run_command(
                            ActivityContext(
                                step_id=f"s.{i}", attempt=1, output=Lines(), kill_grace=grace
                            ),
                            ["/bin/sh", "-c", cmd],
                        )
                        for i, cmd in enumerate(cmds)
                    )
                ),
                seconds,
            )
        finally:
            counter.cancel()

    return asyncio.run(go()), most


def test_a_wide_parallel_phase_is_reaped_with_each_commands_own_exit_code(pidfd: bool) -> None:
    zombies, threads = _zombie_children(), threading.active_count()
    cmds = [f"sleep 0.3; echo {i}; exit {i % 4}" for i in range(300)] + ["kill -KILL $$"] * 3
    results, most = _many(cmds, 60)
    assert [r.exit_code for r in results] == [i % 4 for i in range(300)] + [-9] * 3
    assert [r.stdout for r in results[:300]] == [str(i) for i in range(300)]
    assert _zombie_children() - zombies == set()
    if pidfd:  # and no watcher thread per command, as asyncio's default on 3.11 starts
        assert most < threads + 10, f"{most} threads while 300 commands ran"


def test_an_ops_wide_parallel_phase_leaves_no_zombie(pidfd: bool) -> None:
    zombies = _zombie_children()
    steps = [shell(f"sleep 0.2; echo {i}", profile=QUICK) for i in range(200)]
    result, _ = run_op(Op(name="wide", phases=[phase("Wide", steps, parallel=True)]))
    assert [s.status for s in result.steps] == ["ok"] * 200
    outputs = [s.result["stdout"] for s in result.steps]  # type: ignore[index]
    assert outputs == [str(i) for i in range(200)]
    assert _zombie_children() - zombies == set()


def test_a_cancelled_wide_parallel_phase_leaves_nothing_running_or_unreaped(
    pidfd: bool, tmp_path: Path
) -> None:
    zombies = _zombie_children()
    # Each ignores SIGTERM (so does its sleep): stopped by SIGKILL after the grace.
    cmd = f"trap '' TERM; echo $$ >> {tmp_path}/pids; sleep 30; echo never"
    with pytest.raises(TimeoutError):
        _many([cmd] * 100, 3, grace=0.3)
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 100
    assert [p for p in pids if alive(p)] == []
    # asyncio's watcher threads (one per child without pidfd) reap the killed shells a
    # moment after the cancellation returns, later on a loaded machine (2 s was once too
    # short in a full run); what is still a zombie after that was never going to be.
    deadline = time.monotonic() + 10.0
    while _zombie_children() - zombies and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _zombie_children() - zombies == set()
