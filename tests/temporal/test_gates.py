"""Gates on Temporal: a signal from another process releases them; silence fails the Op."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from conftest import Chant, MakeProject
from temporal_server import TemporalServer, workflow_id

GATED = """
from chant import Op, gate, phase, shell

{var} = Op(
    name="{name}",
    phases=[
        phase("Build", [shell("echo built >> state.log")]),
        phase("Approve", [gate("approve-prod", timeout="{timeout}", description="prod rollout")]),
        phase("Ship", [shell("echo shipped >> state.log")]),
    ],
    on_failure=[phase("Roll back", [shell("echo rolled-back >> state.log")])],
)
"""


def _project(make_project: MakeProject, server: TemporalServer, timeout: str) -> tuple[Path, str]:
    name = f"release-{uuid.uuid4().hex[:6]}"
    root = make_project(
        {
            "chant.toml": server.toml(name),
            "ops/release.op.py": GATED.format(var="release", name=name, timeout=timeout),
        }
    )
    return root, name


def _log(root: Path) -> list[str]:
    path = root / "state.log"
    return path.read_text().split() if path.exists() else []


def _start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chant", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(check: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)


def test_a_gate_waits_for_a_signal_from_another_process_and_the_approver_shows(
    make_project: MakeProject, chant_proc: Chant, temporal_server
) -> None:
    root, name = _project(make_project, temporal_server, "1m")
    run = _start(root, "run", name, "--progress-json")
    try:

        def waiting() -> bool:
            ran = chant_proc("status", name, "--json", cwd=root)
            return ran.code == 0 and bool(json.loads(ran.out)["waiting"])

        _wait_for(waiting, what="the gate to wait")
        status = json.loads(chant_proc("status", name, "--json", cwd=root).out)
        assert status["state"] == "running"
        assert status["phase"] == "Approve"
        assert [(w["signal"], w["step"], w["timeout"]) for w in status["waiting"]] == [
            ("approve-prod", "approve.1", "1m")
        ]
        human = chant_proc("status", name, cwd=root)
        since = status["waiting"][0]["since"]
        assert (
            f'  waiting  for signal "approve-prod" at approve.1 since {since}'
            f" (up to 1m): chant signal {name} approve-prod --approver NAME\n"
        ) in human.out
        assert _log(root) == ["built"]  # nothing ran past the gate

        wrong = chant_proc("signal", name, "approve-staging", cwd=root)
        assert (wrong.code, wrong.err) == (
            2,
            f'chant: error: Op "{name}" is not waiting for signal "approve-staging"; '
            "it waits for: approve-prod\n",
        )

        sent = chant_proc(
            "signal", name, "approve-prod", "--approver", "alice", "--note", "CAB-42", cwd=root
        )
        assert (sent.code, sent.out) == (
            0,
            f'sent "approve-prod" to {workflow_id(root, name)} as alice\n',
        )
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    finally:
        _stop(run)
    events = [json.loads(line) for line in out.splitlines()]
    lines = [e["line"] for e in events if e["type"] == "step_output" and e["step"] == "approve.1"]
    assert lines == [
        f'waiting for signal "approve-prod" (up to 1m): chant signal {name} approve-prod '
        "--approver NAME",
        '"approve-prod" approved by alice: CAB-42',
    ]
    gate = next(e for e in events if e["type"] == "step_finished" and e["step"] == "approve.1")
    assert (gate["status"], gate["fn"], gate["args"]) == (
        "ok",
        "gate",
        {"signal": "approve-prod", "timeout": "1m"},
    )
    assert _log(root) == ["built", "shipped"]
    done = chant_proc("status", name, cwd=root)
    assert done.code == 0
    assert f"Op {name}: completed" in done.out
    assert '  approved "approve-prod" by alice at ' in done.out
    assert done.out.rstrip().endswith("— CAB-42")


def test_a_gate_signalled_without_an_approver_says_unnamed_in_the_run_and_in_status(
    make_project: MakeProject, chant_proc: Chant, temporal_server
) -> None:
    root, name = _project(make_project, temporal_server, "1m")
    run = _start(root, "run", name, "--progress-json")
    try:

        def waiting() -> bool:
            ran = chant_proc("status", name, "--json", cwd=root)
            return ran.code == 0 and bool(json.loads(ran.out)["waiting"])

        _wait_for(waiting, what="the gate to wait")
        sent = chant_proc("signal", name, "approve-prod", cwd=root)
        assert sent.code == 0
        # no " as NAME" after the workflow id (whose prefix depends on the project)
        assert sent.out.startswith('sent "approve-prod" to ')
        assert sent.out.endswith(f"op-{name}\n")
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    finally:
        _stop(run)
    events = [json.loads(line) for line in out.splitlines()]
    lines = [e["line"] for e in events if e["type"] == "step_output" and e["step"] == "approve.1"]
    assert lines[-1] == '"approve-prod" approved by (unnamed)'
    done = chant_proc("status", name, cwd=root)
    assert done.code == 0
    assert '  approved "approve-prod" by (unnamed) at ' in done.out


def test_a_gate_that_times_out_fails_the_op_and_runs_on_failure(
    make_project: MakeProject, chant_proc: Chant, temporal_server
) -> None:
    root, name = _project(make_project, temporal_server, "2s")
    ran = chant_proc("run", name, "--json", cwd=root, timeout=60)
    assert ran.code == 1, ran.err
    doc = json.loads(ran.out)
    assert doc["failed_step"] == "approve.1"
    assert doc["error"] == {
        "type": "GateTimeoutError",
        "message": 'gate "approve.1" got no "approve-prod" signal within 2s',
    }
    assert [(s["id"], s["status"]) for s in doc["steps"]] == [
        ("build.1", "ok"),
        ("approve.1", "failed"),
        ("ship.1", "skipped"),
        ("roll-back.1", "ok"),
    ]
    assert _log(root) == ["built", "rolled-back"]
    assert (
        'Op "' + name + '" failed after' in ran.err
        and "step approve.1 failed: GateTimeoutError" in ran.err
    )
