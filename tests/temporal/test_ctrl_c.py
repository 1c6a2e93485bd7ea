"""Ctrl-C on ``chant run --temporal`` with the worker in that process (the default).

The first Ctrl-C (or SIGTERM / SIGHUP) cancels the run as locally: the running step
is stopped, ``on_failure`` runs, the workflow ends ``canceled`` and chant exits 130.
A second Ctrl-C detaches, saying that nothing runs the workflow until a worker polls.
(With ``--no-worker`` the first Ctrl-C detaches: see test_manage.py.)
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

from conftest import MakeProject, alive, chant_subprocess, wait_gone
from temporal_procs import Chant, lines, until
from temporal_server import TemporalServer, workflow_id

OP = """
from chant import Op, phase, shell

WORK = "echo $$ > {tmp}/step.pid; if [ -e {tmp}/block ]; then exec sleep 60; fi"
UNDO = "echo $$ > {tmp}/undo.pid; if [ -e {tmp}/slow-undo ]; then exec sleep 60; fi"

op = Op(
    name="{name}",
    phases=[
        phase("Work", [shell(WORK)]),
        phase("After", [shell("touch {tmp}/after")]),
    ],
    on_failure=[phase("Undo", [shell(UNDO + "; touch {tmp}/undone")])],
)
"""


def _project(make_project: MakeProject, server: TemporalServer, tmp: Path) -> tuple[Path, str]:
    name = f"ctrlc-{uuid.uuid4().hex[:8]}"
    root = make_project(
        {
            "chant.toml": server.toml(f"q-{name}"),
            "ops/op.op.py": OP.format(name=name, tmp=tmp),
        }
    )
    return root, name


def _state(root: Path, name: str) -> str:
    status = chant_subprocess("status", name, "--json", cwd=root)
    assert status.code == 0, status.err
    state: str = json.loads(status.out)["state"]
    return state


def _kill_leftovers(tmp: Path) -> None:
    for pidfile in ("step.pid", "undo.pid"):
        for pid in (int(p) for p in lines(tmp / pidfile)):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_first_ctrl_c_cancels_the_run_runs_on_failure_and_exits_130(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    root, name = _project(make_project, temporal_server, tmp_path)
    (tmp_path / "block").touch()
    run = Chant("run", name, cwd=root, name="run")
    try:
        until(lambda: bool(lines(tmp_path / "step.pid")), 30, "the step started", run)
        step_pid = int(lines(tmp_path / "step.pid")[0])
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(30) == 130, run.stderr()
        assert wait_gone(step_pid), "the cancelled step's process is still running"
        assert (tmp_path / "undone").exists(), "on_failure did not run"
        assert not (tmp_path / "after").exists()
        err = run.stderr()
        assert err == (
            f'chant: [temporal] found in chant.toml — running "{name}" on Temporal\n'
            f"chant: interrupted — cancelling workflow {workflow_id(root, name)}: stopping "
            "running steps, then running on_failure (Ctrl-C again to detach)\n"
        )
        out = run.stdout()
        assert "[compensation] interrupted — running on_failure phases" in out, out
        assert f'Op "{name}" interrupted after ' in out, out
        assert _state(root, name) == "canceled"
    finally:
        run.stop()
        _kill_leftovers(tmp_path)

    # Nothing is left open: a new run starts, and runs to its end.
    (tmp_path / "block").unlink()
    again = chant_subprocess("run", name, cwd=root)
    assert again.code == 0, again.err
    assert (tmp_path / "after").exists()
    assert _state(root, name) == "completed"


def test_a_second_signal_detaches_and_says_nothing_runs_it_without_a_worker(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    root, name = _project(make_project, temporal_server, tmp_path)
    wid = workflow_id(root, name)
    (tmp_path / "block").touch()
    (tmp_path / "slow-undo").touch()
    run = Chant("run", name, cwd=root, name="run")
    try:
        until(lambda: bool(lines(tmp_path / "step.pid")), 30, "the step started", run)
        run.proc.send_signal(signal.SIGTERM)  # SIGTERM means what Ctrl-C means
        until(lambda: bool(lines(tmp_path / "undo.pid")), 30, "on_failure started", run)
        undo_pid = int(lines(tmp_path / "undo.pid")[0])
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(30) == 130, run.stderr()
        assert run.stderr() == (
            f'chant: [temporal] found in chant.toml — running "{name}" on Temporal\n'
            f"chant: interrupted — cancelling workflow {wid}: stopping running steps, then "
            "running on_failure (Ctrl-C again to detach)\n"
            f"chant: interrupted again — detached; workflow {wid} stays open on Temporal "
            "with its cancellation requested, and the worker in this process has stopped: "
            "nothing stops its steps or runs on_failure until a worker polls task queue "
            f"q-{name}: start one with `chant worker`\n"
            f"  follow it: chant status {name}\n"
            f"  end it now, without on_failure: chant cancel {name} --force\n"
        )
        # The worker that left stopped the compensation step it was running.
        assert wait_gone(undo_pid), "the compensation step outlived its worker"
        assert _state(root, name) == "running"
    finally:
        run.stop()
        chant_subprocess("cancel", name, "--force", cwd=root)
        _kill_leftovers(tmp_path)
    assert not (tmp_path / "undone").exists()


FAILING = """
from chant import Op, Profile, Retry, phase, shell

op = Op(
    name="{name}",
    phases=[phase("Work", [shell("exit 3", profile=Profile(retry=Retry(max_attempts=1)))])],
    on_failure=[
        phase("Undo", [shell("echo $$ > {tmp}/undo.pid; exec sleep 60")]),
        phase("UndoMore", [shell("touch {tmp}/undo-more")]),
    ],
)
"""


def test_a_first_ctrl_c_during_on_failure_says_it_stops_on_failure(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    # A step failed and on_failure is running: the first Ctrl-C stops it and skips the
    # rest (as locally), and says so rather than promising to run on_failure.
    name = f"ctrlc-{uuid.uuid4().hex[:8]}"
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"q-{name}"),
            "ops/op.op.py": FAILING.format(name=name, tmp=tmp_path),
        }
    )
    run = Chant("run", name, cwd=root, name="run")
    try:
        until(lambda: bool(lines(tmp_path / "undo.pid")), 30, "on_failure started", run)
        undo_pid = int(lines(tmp_path / "undo.pid")[0])
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(30) == 130, run.stderr()
        assert run.stderr() == (
            f'chant: [temporal] found in chant.toml — running "{name}" on Temporal\n'
            f"chant: interrupted during on_failure — cancelling workflow "
            f"{workflow_id(root, name)}: stopping its running steps, skipping the rest of "
            "on_failure (Ctrl-C again to detach)\n"
        )
        assert wait_gone(undo_pid), "the compensation step is still running"
        assert not (tmp_path / "undo-more").exists()
        assert _state(root, name) == "canceled"
    finally:
        run.stop()
        _kill_leftovers(tmp_path)
