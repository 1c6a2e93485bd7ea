"""The library API (``chant.run``, ``chant.load_project``, ``chant.status`` …), the one
exit-code table, and the one error tree: what a Python caller gets is what the CLI
reports."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import chant
from chant.errors import (
    ChantError,
    ExitCode,
    NotRunningError,
    OpNotFoundError,
    SecretNotSetError,
    UsageError,
)
from chant.events import Event
from conftest import alive, chant_subprocess
from temporal_procs import Chant, lines, until
from temporal_server import TemporalServer

MakeProject = Callable[..., Path]

OPS = """
from chant import Op, Outcome, phase, secret, shell

hello = Op(
    name="hello",
    phases=[phase("Greet", [shell("pwd > where.txt", outcome=Outcome("Said", "exit_code"))])],
)
broken = Op(name="broken", phases=[phase("Fail", [shell("exit 3")])])
push = Op(name="push", phases=[phase("Push", [shell("echo pushed", env={"T": secret("TOKEN")})])])
"""


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    return make_project({"chant.toml": '[project]\nops = ["ops"]\n', "ops/x.op.py": OPS})


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """The caller's current directory: a folder outside the project."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


# --- local runs ------------------------------------------------------------------------


def test_run_by_name_returns_the_result_runs_in_the_project_root_and_keeps_the_cwd(
    project: Path, elsewhere: Path
) -> None:
    events: list[Event] = []
    result = chant.run("hello", project=project, mode="local", on_event=events.append)
    assert (result.op, result.mode, result.ok, result.status) == ("hello", "local", True, "ok")
    assert result.outcomes == {"Said": 0}
    assert chant.exit_code(result) == ExitCode.OK == 0
    assert (project / "where.txt").read_text().strip() == str(project.resolve())
    assert os.getcwd() == str(elsewhere)
    assert (events[0].type, events[-1].type) == ("run_started", "run_finished")


def test_a_failed_op_is_a_result_with_ok_false_and_exit_code_1(project: Path) -> None:
    result = chant.run("broken", project=project, mode="local")
    assert (result.ok, result.status, result.failed_step) == (False, "failed", "fail.1")
    assert chant.exit_code(result) == ExitCode.FAILED == 1


def test_a_missing_secret_raises_the_clis_error(project: Path) -> None:
    with pytest.raises(SecretNotSetError) as raised:
        chant.run("push", project=project, mode="local", env={})
    assert str(raised.value) == (
        'op "push" needs secret(s) not set (or empty) in the environment: TOKEN\n'
        "  hint: export TOKEN=… before running (the value is masked as *** in all output)"
    )
    assert raised.value.exit_code == ExitCode.INVALID == 2


def test_secrets_are_read_from_env_not_the_process_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKEN", raising=False)
    result = chant.run("push", project=project, mode="local", env={"TOKEN": "s3cret"})
    assert result.ok
    assert result.steps[0].result["stdout"] == "pushed"


def test_an_unknown_name_raises_op_not_found_with_did_you_mean(project: Path) -> None:
    with pytest.raises(OpNotFoundError) as raised:
        chant.run("helo", project=project, mode="local")
    assert raised.value.message.startswith('no Op named "helo"; available: hello, broken, push')
    assert raised.value.hint == 'did you mean "hello"?'


def test_a_mode_other_than_local_or_temporal_is_a_usage_error(project: Path) -> None:
    with pytest.raises(UsageError) as raised:
        chant.run("hello", project=project, mode="remote")
    assert str(raised.value) == 'mode must be "local", "temporal" or None, not \'remote\''


def test_an_op_object_is_resolved_against_the_project_and_run(project: Path) -> None:
    op = chant.Op(name="adhoc", phases=[chant.phase("Say", [chant.shell("echo adhoc")])])
    result = chant.run(op, project=project, mode="local")
    assert (result.op, result.ok) == ("adhoc", True)
    assert [s.id for s in result.steps] == ["say.1"]


def test_no_retry_runs_each_step_once(make_project: MakeProject) -> None:
    root = make_project(
        {
            "ops/r.op.py": """
            from chant import Op, Profile, Retry, phase, shell

            retried = Op(
                name="retried",
                phases=[phase("Try", [shell("echo x >> tries; exit 1",
                    profile=Profile(retry=Retry(max_attempts=3, initial_interval="1ms")))])],
            )
            """
        }
    )
    result = chant.run("retried", project=root, mode="local", no_retry=True)
    assert (result.ok, result.steps[0].attempts) == (False, 1)
    assert (root / "tries").read_text() == "x\n"


def test_notices_go_to_say(make_project: MakeProject) -> None:
    root = make_project({"ops/x.op.py": OPS})
    said: list[str] = []
    chant.run("hello", project=root, say=said.append)
    assert said == [
        'chant: no chant.toml — running "hello" locally (in-process: no gates, schedules or resume)'
    ]


def test_load_project_finds_the_project_above_a_folder(project: Path) -> None:
    loaded = chant.load_project(project / "ops")
    assert list(loaded.ops) == ["hello", "broken", "push"]
    assert loaded.config.root == project.resolve()


def test_importing_chant_does_not_import_the_api() -> None:
    code = "import chant, sys; print('chant.api' in sys.modules, 'asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- exit codes and the error tree -----------------------------------------------------


def test_the_exit_code_table() -> None:
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("FAILED", 1),
        ("INVALID", 2),
        ("UNAVAILABLE", 3),
        ("INTERRUPTED", 130),
    ]
    assert ExitCode.of_run("ok", ok=True) == ExitCode.OK
    assert ExitCode.of_run("failed") == ExitCode.FAILED
    assert ExitCode.of_run("timed_out") == ExitCode.FAILED
    for status in ("interrupted", "detached", "terminated", "canceled"):
        assert ExitCode.of_run(status) == ExitCode.INTERRUPTED


def test_each_error_class_carries_its_exit_code() -> None:
    from chant import errors

    assert errors.ChantError.exit_code == ExitCode.INVALID
    assert errors.RuntimeUnavailableError.exit_code == ExitCode.UNAVAILABLE
    assert errors.ActivityError.exit_code == ExitCode.FAILED
    assert errors.CommandFailedError("x", exit_code=7).exit_code == ExitCode.FAILED
    for moved in ("IRError", "AlreadyRunningError", "IRTooLargeError", "NotRunningError"):
        assert getattr(errors, moved).exit_code == ExitCode.INVALID


def test_errors_that_moved_into_the_tree_stay_importable_where_they_were() -> None:
    from chant import errors
    from chant.ir import IRError
    from chant.temporal.devserver import AlreadyServedError
    from chant.temporal.runner import AlreadyRunningError, IRTooLargeError

    assert IRError is errors.IRError and issubclass(IRError, ValueError)
    assert AlreadyRunningError is errors.AlreadyRunningError
    assert IRTooLargeError is errors.IRTooLargeError
    assert AlreadyServedError is errors.AlreadyServedError


def test_every_exception_class_in_chant_is_a_chant_error_or_named_as_an_exception() -> None:
    """Every exception chant defines is in the ChantError tree, except those the
    docstring of chant.errors names as internal control flow (they never reach a
    user)."""
    import chant.errors

    outside = []
    for info in pkgutil.walk_packages(chant.__path__, "chant."):
        if info.name == "chant.__main__":  # running it is the CLI
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            mine = cls.__module__ == info.name and issubclass(cls, BaseException)
            if mine and not issubclass(cls, ChantError):
                outside.append(f"{info.name.removeprefix('chant.')}.{cls.__name__}")
    assert outside, "the walk found no exception classes at all"
    doc = chant.errors.__doc__ or ""
    named = doc[doc.index("Not in the tree, on purpose") :]
    # By class name and the module it lives in now (a module may be split meanwhile).
    assert [name for name in outside if f"{name.rsplit('.', 1)[-1]}``" not in named] == []


# --- Temporal --------------------------------------------------------------------------

TEMPORAL_OPS = {
    "live": 'phases=[phase("Wait", [shell("echo $$ > {tmp}/sleep.pid; exec sleep 30")])], '
    'on_failure=[phase("Undo", [shell("echo compensated >> {tmp}/undo")])]',
    "quick": 'phases=[phase("Say", [shell("echo quick")])]',
    "gated": 'phases=[phase("Approve", [gate("go", timeout="60s")])]',
}
"""The body of each Op of the Temporal tests' project, by the end of its name."""


@pytest.fixture
def temporal_project(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> Iterator[tuple[Path, str]]:
    """A project on the test server whose Ops are ``<name>-live``, ``<name>-quick`` and
    ``<name>-gated``; nothing of them is left running after the test."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    ops = "".join(
        f'{kind} = Op(name="{name}-{kind}", {body.format(tmp=tmp_path)})\n'
        for kind, body in TEMPORAL_OPS.items()
    )
    text = "from chant import Op, gate, phase, shell\n" + ops
    toml = temporal_server.toml(f"q-{name}")
    root = make_project({"chant.toml": toml, "ops/op.op.py": text}, folder=name)
    yield root, name
    for kind in TEMPORAL_OPS:
        chant_subprocess("cancel", f"{name}-{kind}", "--force", cwd=root, timeout=30)


def _cli_json(root: Path, *args: str) -> Any:
    ran = chant_subprocess(*args, "--json", cwd=root)
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def test_run_on_temporal_then_status_and_history_as_the_cli_prints_them(
    temporal_project: tuple[Path, str],
) -> None:
    root, name = temporal_project
    quick = f"{name}-quick"
    result = chant.run(quick, project=root)  # [temporal] in chant.toml: on Temporal
    assert (result.op, result.mode, result.ok) == (quick, "temporal", True)
    assert chant.exit_code(result) == 0

    status = chant.status(quick, project=root)
    assert (status["op"], status["state"], status["finished"]) == (quick, "completed", True)
    assert status == _cli_json(root, "status", quick)

    deadline = time.monotonic() + 10  # visibility is eventually consistent
    rows = chant.history(quick, project=root)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = chant.history(quick, project=root)
    assert [r["status"] for r in rows] == ["completed"]
    assert rows == _cli_json(root, "history", quick)

    with pytest.raises(NotRunningError) as raised:
        chant.cancel(quick, project=root)
    assert str(raised.value) == (
        f'Op "{quick}" has no running workflow (its last run completed)\n'
        f"  hint: start one with `chant run {quick}`; `chant history {quick}` lists past runs"
    )


def test_cancel_a_live_run_runs_its_compensation(
    temporal_project: tuple[Path, str], tmp_path: Path
) -> None:
    root, name = temporal_project
    live = f"{name}-live"
    run = Chant("run", live, cwd=root, name="run")
    try:
        until(lambda: bool(lines(tmp_path / "sleep.pid")), 30, "the step's sleep", run)
        done = chant.cancel(live, project=root)
        assert (done["op"], done["state"]) == (live, "cancelling")
        assert done["workflow_id"].endswith(f"-op-{live}")
        assert run.wait(30) == ExitCode.INTERRUPTED
        assert lines(tmp_path / "undo") == ["compensated"]
    finally:
        run.stop()
        for pid in (int(p) for p in lines(tmp_path / "sleep.pid")):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_signal_releases_a_gate(temporal_project: tuple[Path, str]) -> None:
    root, name = temporal_project
    gated = f"{name}-gated"
    run = Chant("run", gated, cwd=root, name="gated")
    try:

        def waiting() -> bool:
            try:
                return bool(chant.status(gated, project=root)["waiting"])
            except NotRunningError:
                return False

        until(waiting, 30, "the gate", run)
        with pytest.raises(UsageError) as raised:
            chant.signal(gated, "stop", project=root)
        assert (
            str(raised.value) == f'Op "{gated}" is not waiting for signal "stop"; it waits for: go'
        )
        sent = chant.signal(gated, "go", approver="ann", note="ok", project=root)
        assert (sent["signal"], sent["approver"], sent["note"]) == ("go", "ann", "ok")
        assert run.wait(30) == 0
    finally:
        run.stop()
