"""Projects sharing one dev server never see or run each other's runs.

Each project's runs go to its own task queue (``chant-<project id>``) and workflow ids
(``chant-<project id>-op-<name>``), and carry its id in the ``ChantProject`` search
attribute, which every query for runs filters on. The project id is ``project.name``
from chant.toml, else the folder's name and 6 hex digits of its path's SHA-256.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

from conftest import MakeProject, Ran, alive, chant_subprocess
from temporal_procs import Chant, lines, until
from temporal_server import TemporalServer, project_id, workflow_id

OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[phase("Work", [
        shell("pwd >> {log}; echo $$ > {pidfile}; if [ -e block ]; then exec sleep 60; fi"),
    ])],
    on_failure=[phase("Undo", [shell("touch undone")])],
)
"""


def _toml(server: TemporalServer, extra: str = "") -> str:
    """A chant.toml for ``server`` that sets no task queue: the project's own is used."""
    return (
        f"{extra}[temporal]\n[temporal.profiles.test]\n"
        f'address = "{server.address}"\nnamespace = "{server.namespace}"\n'
    )


def _projects(
    make_project: MakeProject, server: TemporalServer, tmp: Path, name: str, extra: str = ""
) -> tuple[Path, Path]:
    roots = []
    for folder in ("alpha", "beta"):
        text = OP.format(name=name, log=tmp / f"{folder}.log", pidfile=tmp / f"{folder}.pid")
        roots.append(
            make_project({"chant.toml": _toml(server, extra), "ops/op.op.py": text}, folder=folder)
        )
    return roots[0], roots[1]


def _json(ran: Ran) -> object:
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def _kill(tmp: Path) -> None:
    for folder in ("alpha", "beta"):
        for pid in (int(p) for p in lines(tmp / f"{folder}.pid")):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_two_projects_with_the_same_op_keep_their_runs_apart(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    name = f"hello-{uuid.uuid4().hex[:8]}"
    alpha, beta = _projects(make_project, temporal_server, tmp_path, name)
    (alpha / "block").touch()
    run = Chant("run", name, cwd=alpha, name="alpha")
    try:
        until(lambda: bool(lines(tmp_path / "alpha.pid")), 30, "alpha's step started", run)
        # beta's run of the same Op is not refused as "already running", and runs in beta.
        done = chant_subprocess("run", name, "--json", cwd=beta)
        assert done.code == 0, done.err
        assert lines(tmp_path / "beta.log") == [str(beta)]
        assert lines(tmp_path / "alpha.log") == [str(alpha)]

        a = _json(chant_subprocess("status", name, "--json", cwd=alpha))
        b = _json(chant_subprocess("status", name, "--json", cwd=beta))
        assert isinstance(a, dict) and isinstance(b, dict)
        assert (a["workflow_id"], a["state"]) == (workflow_id(alpha, name), "running")
        assert (b["workflow_id"], b["state"]) == (workflow_id(beta, name), "completed")
        assert workflow_id(alpha, name) == f"chant-alpha-{project_id(alpha)[-6:]}-op-{name}"

        for root, state in ((alpha, "running"), (beta, "completed")):
            rows = _json(chant_subprocess("history", name, "--json", cwd=root))
            assert isinstance(rows, list)
            assert [r["status"] for r in rows] == [state], root

        # Cancelling in beta, whose run is over, leaves alpha's alone.
        refused = chant_subprocess("cancel", name, cwd=beta)
        assert refused.code == 2
        assert f'Op "{name}" has no running workflow (its last run completed)' in refused.err
        assert not (alpha / "undone").exists()

        cancelled = chant_subprocess("cancel", name, cwd=alpha)
        assert cancelled.out == (
            f"cancelling {workflow_id(alpha, name)}: running steps stop, then on_failure runs\n"
        ), cancelled.err
        assert run.wait(30) == 130, run.stderr()
        assert (alpha / "undone").exists()
        assert not (beta / "undone").exists()
    finally:
        run.stop()
        chant_subprocess("cancel", name, "--force", cwd=alpha)
        _kill(tmp_path)


def test_a_worker_runs_only_its_own_projects_runs(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    name = f"hello-{uuid.uuid4().hex[:8]}"
    alpha, beta = _projects(make_project, temporal_server, tmp_path, name)
    procs = [Chant("worker", cwd=beta, name="beta-worker")]
    try:
        procs[0].wait_stderr(f"polling task queue chant-{project_id(beta)} ", 30)
        run = Chant("run", name, "--no-worker", cwd=alpha, name="alpha")
        procs.append(run)
        run.wait_stderr(
            f"chant: waiting for a worker on task queue chant-{project_id(alpha)} "
            "(none answered); start one with `chant worker`\n",
            30,
        )
        assert not (tmp_path / "alpha.log").exists(), "beta's worker ran alpha's step"
        procs.append(Chant("worker", cwd=alpha, name="alpha-worker"))
        assert run.wait(60) == 0, run.stderr()
        assert lines(tmp_path / "alpha.log") == [str(alpha)]
        assert not (tmp_path / "beta.log").exists()
    finally:
        for proc in reversed(procs):
            proc.stop()
        chant_subprocess("cancel", name, "--force", cwd=alpha)
        _kill(tmp_path)


def test_project_name_gives_every_checkout_the_same_runs(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    name = f"hello-{uuid.uuid4().hex[:8]}"
    shared = f"shop-{uuid.uuid4().hex[:6]}"
    one, two = _projects(
        make_project, temporal_server, tmp_path, name, f'[project]\nname = "{shared}"\n'
    )
    ran = chant_subprocess("run", name, cwd=one)
    assert ran.code == 0, ran.err
    status = _json(chant_subprocess("status", name, "--json", cwd=two))
    assert isinstance(status, dict)
    assert (status["workflow_id"], status["state"]) == (f"chant-{shared}-op-{name}", "completed")


def test_a_bad_project_name_is_a_config_error(make_project: MakeProject) -> None:
    root = make_project({"chant.toml": '[project]\nname = "Shop Deploys"\n'})
    ran = chant_subprocess("list", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        "chant: error: chant.toml:2: project.name must be kebab-case (a-z, 0-9, single "
        "hyphens), at most 60 characters, got 'Shop Deploys'\n"
        '  hint: e.g. name = "shop-deploys"\n'
    )


def test_server_start_and_status_in_a_second_project_describe_the_running_server(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    root = make_project({"chant.toml": _toml(temporal_server)}, folder="second")
    described = (
        f"a Temporal dev server is {{}} {temporal_server.address} (started by chant in "
        f"{temporal_server.root}, pid {temporal_server.pid})"
    )
    start = chant_subprocess("server", "start", cwd=root)
    assert (start.code, start.err) == (0, "")
    assert start.out == (
        f"{described.format('already serving')}; this project uses it\n"
        "next: chant run <NAME> --temporal\n"
    )
    status = chant_subprocess("server", "status", cwd=root)
    assert (status.code, status.err) == (0, "")
    assert status.out == (
        "no dev server of this project is running; "
        f"{described.format('serving')}, and this project uses it\n"
    )
    stop = chant_subprocess("server", "stop", cwd=root)
    assert (stop.code, stop.err) == (0, "")
    assert stop.out == (
        "no dev server of this project is running; "
        f"{described.format('serving')}: stop it from there with `chant server stop`\n"
    )
    assert not (root / ".chant" / "server" / "server.json").exists()
    assert alive(temporal_server.pid)
