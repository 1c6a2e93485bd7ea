"""The sweep judges an escaped process by its state, never by how long it waited: a
process caught in the middle of an exec (its new environment not set up yet) is waited
for and stopped, however loaded the machine; a process with an empty environment is
judged at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chant import Op, Profile, Retry, phase, shell
from chant.activities import reap
from chant.activities.process import run_command
from chant.activities.registry import ActivityContext
from conftest import alive, run_op, wait_gone

QUICK = Profile(timeout="20s", retry=Retry(max_attempts=1))


@pytest.fixture
def busy() -> Iterator[None]:
    """Four shells spinning on the two cores while the test runs (stopped by pid), so
    that processes wait for a CPU in the middle of their execs."""
    spinners = [
        subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"], start_new_session=True)
        for _ in range(4)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _escape(path: Path, i: int) -> str:
    # Two execs (setsid, then sleep) after the shell that started it has exited.
    return f"setsid sleep 60 >/dev/null 2>&1 & echo $! > {path}/{i}.pid"


def test_many_quiet_escapes_on_a_busy_machine_are_all_stopped(
    tmp_path: Path, busy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    execing: list[int] = []
    judge = reap._environment_token

    def spy(pid: int) -> str | None:
        answer = judge(pid)
        if answer is reap._EXECING:
            execing.append(pid)
        return answer

    monkeypatch.setattr(reap, "_environment_token", spy)

    async def go() -> None:
        await asyncio.gather(
            *(
                run_command(
                    ActivityContext(step_id=f"s.{i}", attempt=1, output=lambda *_: None),
                    ["/bin/sh", "-c", _escape(tmp_path, i)],
                )
                for i in range(150)
            )
        )

    asyncio.run(asyncio.wait_for(go(), 120))
    pids = [int((tmp_path / f"{i}.pid").read_text()) for i in range(150)]
    survivors = [p for p in pids if not wait_gone(p, 3.0)]
    for pid in survivors:
        os.kill(pid, 9)
    assert survivors == [], f"{len(execing)} looks fell in an exec"


def test_a_process_caught_in_an_exec_is_waited_for_then_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment between an exec's new memory and its new environment lasts well under
    a millisecond and cannot be held open from outside the kernel, so here the kernel's
    view of the escaped process is that moment (an empty environment, 0 as the end of
    the environment in its stat) for its first 40 looks: about a second, five times the
    200 ms the sweep once allowed."""
    read = reap._read
    looks = {"left": 40}
    held: dict[str, int] = {}

    def kernel_view(path: str) -> bytes | None:
        data = read(path)
        pid = path.split("/")[2]
        if held.get("pid") != int(pid) or looks["left"] <= 0 or data is None:
            return data
        if path.endswith("/environ"):
            looks["left"] -= 1
            return b""
        if path.endswith("/stat"):
            fields = data.split(b" ")
            fields[50] = b"0"  # env_end, field 51 of proc_pid_stat(5)
            return b" ".join(fields)
        return data

    monkeypatch.setattr(reap, "_read", kernel_view)
    pid_file = tmp_path / "bg.pid"
    # The escaped process waits for the test to know its pid before its shell ends.
    cmd = (
        f"setsid sleep 60 >/dev/null 2>&1 & echo $! > {pid_file}; "
        f"while [ ! -f {tmp_path}/go ]; do sleep 0.01; done"
    )

    async def go() -> None:
        step = asyncio.ensure_future(
            run_command(
                ActivityContext(step_id="s.1", attempt=1, output=lambda *_: None),
                ["/bin/sh", "-c", cmd],
            )
        )
        while not (pid_file.exists() and pid_file.read_text().strip()):
            await asyncio.sleep(0.01)
        held["pid"] = int(pid_file.read_text())
        (tmp_path / "go").touch()
        await step

    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(go(), 30))
        took = time.monotonic() - started
        assert looks["left"] == 0, "the sweep stopped looking while the exec was not over"
        assert wait_gone(held["pid"], 3.0), "a process in the middle of an exec was spared"
        assert took < reap.SETTLE
    finally:
        if "pid" in held and alive(held["pid"]):
            os.kill(held["pid"], 9)


def test_an_empty_environment_is_judged_at_once_not_taken_for_an_exec(tmp_path: Path) -> None:
    cleared = subprocess.Popen(["env", "-i", "sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{cleared.pid}/cmdline").read_bytes() != b"sleep\x0060\x00":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert Path(f"/proc/{cleared.pid}/environ").read_bytes() == b""
        assert reap._environment_token(cleared.pid) is None
    finally:
        cleared.kill()
        cleared.wait()


def test_a_token_is_read_wherever_it_stands_in_the_environment() -> None:
    for env in ({reap.TOKEN: "ab-1"}, {"A": "1", reap.TOKEN: "ab-2", "Z": "2"}):
        marked = subprocess.Popen(["sleep", "60"], env={"PATH": os.environ["PATH"], **env})
        try:
            deadline = time.monotonic() + 5
            while reap._environment_token(marked.pid) != env[reap.TOKEN]:
                assert time.monotonic() < deadline, reap._environment_token(marked.pid)
                time.sleep(0.01)
        finally:
            marked.kill()
            marked.wait()


def test_a_step_leaving_a_quiet_process_with_an_empty_environment_does_not_wait_for_it(
    tmp_path: Path,
) -> None:
    # Neither token nor pipe marks it (docs/ops.md: not stopped); the step must not
    # wait SETTLE seconds for an environment that will never show.
    pid_file = tmp_path / "bg.pid"
    cmd = f"env -i setsid sleep 60 >/dev/null 2>&1 & echo $! > {pid_file}; sleep 0.2"
    started = time.monotonic()
    result, _ = run_op(Op(name="cleared", phases=[phase("Work", [shell(cmd, profile=QUICK)])]))
    took = time.monotonic() - started
    pid = int(pid_file.read_text())
    try:
        assert result.steps[0].status == "ok"
        assert took < reap.SETTLE / 2, f"the step took {took:.1f}s"
    finally:
        if alive(pid):
            os.kill(pid, 9)
        with contextlib.suppress(ChildProcessError):  # adopted by this process
            os.waitpid(pid, 0)
