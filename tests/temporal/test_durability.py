"""Durability on a real Temporal dev server: a killed worker's run resumes on another
worker without re-running finished steps, a stopped worker stops its steps, and runs
spread over several workers.

Every chant here is a real process (``python -m chant``) in its own session, stopped
in ``finally``; every test has its own Op name (in the workflow id
``chant-<project>-op-<name>``) and task queue, so no worker of one test runs another's work.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import alive, chant_subprocess, wait_gone
from temporal_procs import Chant, group_alive, lines, until


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def finished_steps(text: str) -> dict[str, dict[str, Any]]:
    return {e["step"]: e for e in events(text) if e["type"] == "step_finished"}


CRASH_OP = """
from chant import Op, Profile, Retry, phase, shell

QUICK = Profile(
    timeout="30s", heartbeat_timeout="3s", retry=Retry(max_attempts=3, initial_interval="1s")
)

op = Op(
    name="{name}",
    phases=[
        phase("One", [shell("echo phase1 $$ >> {tmp}/log", profile=QUICK)]),
        phase(
            "Two",
            [shell("echo $$ >> {tmp}/two.pids; sleep 4; echo phase2 >> {tmp}/log", profile=QUICK)],
        ),
        phase("Three", [shell("echo phase3 >> {tmp}/log", profile=QUICK)]),
    ],
)
"""


def test_a_run_resumes_on_another_worker_after_its_worker_is_killed(
    op_project: Callable[[str, str], tuple[Path, str]], tmp_path: Path
) -> None:
    root, name = op_project("crash", CRASH_OP)
    procs: list[Chant] = []
    try:
        worker_a = Chant("worker", cwd=root, name="worker-a")
        procs.append(worker_a)
        worker_a.wait_stderr("polling task queue")
        run = Chant("run", name, "--no-worker", "--progress-json", cwd=root, name="run")
        procs.append(run)
        pids = tmp_path / "two.pids"
        until(lambda: len(lines(pids)) == 1, 30, "phase Two started", run)
        step_pid = int(lines(pids)[0])

        status = chant_subprocess("status", name, "--json", cwd=root)
        assert status.code == 0, status.err
        shown = json.loads(status.out)
        assert (shown["state"], shown["phase"]) == ("running", "Two")
        assert [(s["step"], s["status"]) for s in shown["steps"]] == [
            ("one.1", "ok"),
            ("two.1", "running"),
        ]

        # Worker A is killed outright. Its step runs in a process group of its own, so
        # the worker's watchdog (chant.activities.guard) is what stops it: the step must
        # not run on beside its retry on worker B.
        os.killpg(worker_a.pid, signal.SIGKILL)
        assert worker_a.proc.wait(5) == -signal.SIGKILL
        assert wait_gone(step_pid, 5), "the killed worker's step kept running"
        assert not group_alive(step_pid)

        worker_b = Chant("worker", cwd=root, name="worker-b")
        procs.append(worker_b)
        assert run.wait(60) == 0, run.stderr()

        log = lines(tmp_path / "log")
        assert [line.split()[0] for line in log] == ["phase1", "phase2", "phase3"], log
        assert len(lines(pids)) == 2  # phase Two's second attempt, on worker B
        steps = finished_steps(run.stdout())
        assert {k: (s["status"], s["attempts"]) for k, s in steps.items()} == {
            "one.1": ("ok", 1),
            "two.1": ("ok", 2),
            "three.1": ("ok", 1),
        }
        assert events(run.stdout())[-1]["status"] == "ok"
    finally:
        for proc in reversed(procs):
            proc.stop()
        for pid in (int(p) for p in lines(tmp_path / "two.pids")):
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


STOP_OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[phase("Long", [shell("sleep 30 & echo $! > {tmp}/sleep.pid; wait")])],
)
"""


def test_a_stopped_worker_stops_its_running_steps(
    op_project: Callable[[str, str], tuple[Path, str]], tmp_path: Path
) -> None:
    root, name = op_project("stop", STOP_OP)
    procs: list[Chant] = []
    pidfile = tmp_path / "sleep.pid"
    try:
        worker = Chant("worker", cwd=root, name="worker")
        procs.append(worker)
        worker.wait_stderr("polling task queue")
        run = Chant("run", name, "--no-worker", cwd=root, name="run")
        procs.append(run)
        until(lambda: bool(lines(pidfile)), 30, "the step's sleep started", run)
        sleep_pid = int(lines(pidfile)[0])
        assert alive(sleep_pid)
        # Detach the follower while a worker still answers its queries (it leaves at once).
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(10) == 130, run.stderr()

        stopping = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0, worker.stderr()
        assert time.monotonic() - stopping < 10
        assert "chant worker: stopping — cancelling running steps" in worker.stderr()
        assert wait_gone(sleep_pid, 2), "the step's sleep outlived its worker"
    finally:
        for proc in reversed(procs):
            proc.stop()
        for pid in (int(p) for p in lines(pidfile)):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


SCALE_OP = """
import os
import time

from chant import Op, activity, phase


@activity
def whoami(ctx=None) -> dict:
    time.sleep(1)
    return {{"pid": os.getpid()}}


op = Op(
    name="{name}",
    phases=[phase("Fan out", [activity("whoami") for _ in range(8)], parallel=True)],
)
"""


def test_steps_spread_over_workers_and_a_run_completes_on_the_one_left(
    op_project: Callable[[str, str], tuple[Path, str]],
) -> None:
    root, name = op_project("scale", SCALE_OP)
    procs: list[Chant] = []
    try:
        # Four steps at a time each: eight parallel steps need both workers at once.
        workers = [
            Chant("worker", "--max-concurrent", "4", cwd=root, name=f"worker-{i}") for i in (1, 2)
        ]
        procs.extend(workers)
        for worker in workers:
            worker.wait_stderr("polling task queue")

        first = chant_subprocess("run", name, "--no-worker", "--json", cwd=root)
        assert first.code == 0, first.err
        result = json.loads(first.out)
        assert [s["status"] for s in result["steps"]] == ["ok"] * 8
        assert {s["result"]["pid"] for s in result["steps"]} == {w.pid for w in workers}

        stopped, left = workers
        stopped.proc.send_signal(signal.SIGTERM)
        assert stopped.wait(10) == 0, stopped.stderr()

        second = chant_subprocess("run", name, "--no-worker", "--json", cwd=root)
        assert second.code == 0, second.err
        result = json.loads(second.out)
        assert [s["status"] for s in result["steps"]] == ["ok"] * 8
        assert {s["result"]["pid"] for s in result["steps"]} == {left.pid}
    finally:
        for proc in reversed(procs):
            proc.stop()
