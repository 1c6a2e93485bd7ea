"""On a Temporal worker too, a step ends when its command exits, nothing it started
survives it (in its group or escaped), an activity cannot end the worker's program,
and a worker stops on SIGHUP/SIGQUIT and leaves no step behind when SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from conftest import MakeOp, alive, chant_subprocess, wait_gone, zombie_children
from temporal_procs import Chant, lines, until

LEFT_BEHIND = {
    "background": "sleep 60 & echo $! > {tmp}/bg.pid",
    "setsid": "setsid sleep 60 & echo $! > {tmp}/bg.pid",
    "setsid-quiet": "setsid sleep 60 >/dev/null 2>&1 & echo $! > {tmp}/bg.pid",
    "setsid-env-cleared": "env -i setsid sleep 60 & echo $! > {tmp}/bg.pid",
}

BACKGROUND_OP = """
from chant import Op, Profile, Retry, phase, shell

QUICK = Profile(timeout="6s", retry=Retry(max_attempts=3, initial_interval="1s"))

op = Op(
    name="{name}",
    phases=[phase("Work", [shell("CMD; echo started; date >> {tmp}/attempts.log", profile=QUICK)])],
)
"""


@pytest.mark.parametrize("how", list(LEFT_BEHIND))
def test_a_step_ends_when_its_command_exits_on_a_worker(
    op_project: MakeOp, tmp_path: Path, how: str
) -> None:
    root, name = op_project("bg", BACKGROUND_OP.replace("CMD", LEFT_BEHIND[how]))
    ran = chant_subprocess("run", name, "--temporal", "--json", cwd=root, timeout=60)
    assert ran.code == 0, ran.err
    step = json.loads(ran.out)["steps"][0]
    assert (step["status"], step["attempts"], step["error"]) == ("ok", 1, None)
    assert step["result"]["stdout"] == "started"
    assert len(lines(tmp_path / "attempts.log")) == 1
    assert step["duration_ms"] < 5000
    assert wait_gone(int(lines(tmp_path / "bg.pid")[0]), 3.0)


EXIT_OP = """
import os
import sys

from chant import Op, Profile, Retry, activity, phase, shell


@activity
def leave() -> None:
    LEAVE


op = Op(
    name="{name}",
    phases=[phase("Work", [activity("leave", profile=Profile(retry=Retry(max_attempts=3)))])],
    on_failure=[phase("Undo", [shell("echo undone >> {tmp}/undo.log")])],
)
"""


@pytest.mark.parametrize(
    ("leave", "what"), [('sys.exit("x")', "sys.exit('x')"), ("os._exit(0)", "os._exit(0)")]
)
def test_an_activity_ending_the_program_fails_its_step_on_a_worker(
    op_project: MakeOp, tmp_path: Path, leave: str, what: str
) -> None:
    root, name = op_project("exit", EXIT_OP.replace("LEAVE", leave))
    ran = chant_subprocess("run", name, "--temporal", "--json", cwd=root, timeout=60)
    assert ran.code == 1, ran.err
    step = json.loads(ran.out)["steps"][0]
    assert (step["status"], step["attempts"]) == ("failed", 1)
    assert step["error"] == {
        "type": "ActivityExitError",
        "message": f'activity "leave" called {what}; an activity must return its '
        "result or raise an exception, not end the program",
    }
    assert lines(tmp_path / "undo.log") == ["undone"]
    assert "Traceback" not in ran.err


KILL_OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[
        phase(
            "Work",
            [
                shell("setsid sleep 300 >/dev/null 2>&1 & echo $! >> {tmp}/pids; wait"),
                shell("env -i setsid sleep 300 & echo $! >> {tmp}/pids; wait"),
            ],
            parallel=True,
        )
    ],
)
"""


def test_a_sigkilled_worker_leaves_no_escaped_step_process(
    op_project: MakeOp, tmp_path: Path
) -> None:
    root, name = op_project("kill", KILL_OP)
    procs: list[Chant] = []
    pidfile = tmp_path / "pids"
    try:
        worker = Chant("worker", cwd=root, name="worker")
        procs.append(worker)
        worker.wait_stderr("polling task queue")
        run = Chant("run", name, "--no-worker", cwd=root, name="run")
        procs.append(run)
        until(lambda: len(lines(pidfile)) == 2, 30, "both escaped sleeps started", run)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(5) == -signal.SIGKILL
        survivors = [p for p in map(int, lines(pidfile)) if not wait_gone(p, 5.0)]
        assert survivors == []
    finally:
        for proc in reversed(procs):
            proc.stop()
        for pid in map(int, lines(pidfile)):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


WIDE_OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[phase("Wide", [shell("sleep 0.3; exit 0") for _ in range(150)], parallel=True)],
)
"""


def test_a_wide_parallel_phase_on_a_worker_leaves_no_zombie(op_project: MakeOp) -> None:
    root, name = op_project("wide", WIDE_OP)
    worker = Chant("worker", cwd=root, name="worker")
    try:
        worker.wait_stderr("polling task queue")
        ran = chant_subprocess("run", name, "--no-worker", "--json", cwd=root, timeout=90)
        assert ran.code == 0, ran.err
        assert [s["status"] for s in json.loads(ran.out)["steps"]] == ["ok"] * 150
        # Every command was the worker's child, reaped when its step ended.
        assert zombie_children(worker.pid) == set()
    finally:
        worker.stop()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_chant_worker_stops_on_sighup_and_sigquit(op_project: MakeOp, sig: signal.Signals) -> None:
    root, _ = op_project("hup", BACKGROUND_OP.replace("CMD", "true"))
    worker = Chant("worker", cwd=root, name="worker")
    try:
        worker.wait_stderr("polling task queue")
        worker.proc.send_signal(sig)
        assert worker.wait(10) == 0, worker.stderr()
        assert "chant worker: stopping — cancelling running steps" in worker.stderr()
    finally:
        worker.stop()
