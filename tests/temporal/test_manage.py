"""``chant status|history|cancel|signal`` and detaching, against a real Temporal dev server.

Every chant here is a real process (``python -m chant``); the long-lived ones run in
their own session and are stopped in ``finally``. Every test has its own Op name and
project folder (the workflow id is ``chant-<project id>-op-<name>``) and task queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from conftest import MakeOp, MakeProject, alive, chant_subprocess, wait_gone
from temporal_procs import Chant, lines, until
from temporal_server import TemporalServer, workflow_id


def history(root: Path, name: str) -> list[dict[str, Any]]:
    ran = chant_subprocess("history", name, "--json", cwd=root)
    assert ran.code == 0, ran.err
    rows: list[dict[str, Any]] = json.loads(ran.out)
    return rows


def history_shows(root: Path, name: str, statuses: list[str]) -> list[dict[str, Any]]:
    """The Op's history once its runs' statuses (newest first) are ``statuses``; the
    cluster's visibility store is eventually consistent, so this polls (up to 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        rows = history(root, name)
        if [r["status"] for r in rows] == statuses or time.monotonic() > deadline:
            assert [r["status"] for r in rows] == statuses, rows
            return rows
        time.sleep(0.2)


LIVE_OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[
        phase("Wait here", [shell("echo $$ > {tmp}/sleep.pid; exec sleep 30")]),
        phase("Never", [shell("echo later >> {tmp}/later")]),
    ],
    on_failure=[phase("Undo", [shell("echo compensated >> {tmp}/undo")])],
)
"""


def start_live(root: Path, name: str, tmp_path: Path, procs: list[Chant]) -> tuple[Chant, int]:
    """``chant run NAME`` (with its own worker) until its step sleeps; the sleep's pid."""
    run = Chant("run", name, cwd=root, name="run")
    procs.append(run)
    until(lambda: bool(lines(tmp_path / "sleep.pid")), 30, "the step's sleep", run)
    return run, int(lines(tmp_path / "sleep.pid")[0])


def stop_all(procs: list[Chant], tmp_path: Path) -> None:
    for proc in reversed(procs):
        proc.stop()
    for pid in (int(p) for p in lines(tmp_path / "sleep.pid")):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_status_of_a_live_run_a_second_start_and_cancel_with_compensation(
    op_project: MakeOp, tmp_path: Path
) -> None:
    root, name = op_project("live", LIVE_OP)
    wid = workflow_id(root, name)
    procs: list[Chant] = []
    try:
        run, sleep_pid = start_live(root, name, tmp_path, procs)

        status = chant_subprocess("status", name, cwd=root)
        assert status.code == 0, status.err
        head, *rest = status.out.splitlines()
        assert re.fullmatch(rf"Op {name}: running \(workflow {wid}, run [0-9a-f-]{{36}}\)", head)
        assert re.fullmatch(r"  started  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rest[0])
        planned = json.loads(chant_subprocess("plan", name, "--json", cwd=root).out)
        assert rest[1:] == [
            f"  plan     {planned['digest']}",  # the run's plan is the one `chant plan` shows
            "  phase    Wait here",
            "  step     wait-here.1 (shell): running",
        ]

        shown = chant_subprocess("status", name, "--json", cwd=root)
        assert shown.code == 0, shown.err
        doc = json.loads(shown.out)
        assert (doc["op"], doc["workflow_id"], doc["state"]) == (name, wid, "running")
        assert doc["run_id"] in head
        assert doc["phase"] == "Wait here"
        assert doc["steps"] == [
            {
                "step": "wait-here.1",
                "fn": "shell",
                "status": "running",
                "attempts": 1,
                "phase": "Wait here",
            }
        ]
        assert (doc["waiting"], doc["outcomes"], doc["finished"]) == ([], {}, False)

        second = chant_subprocess("run", name, cwd=root)
        assert (second.code, second.out) == (2, "")
        assert second.err.endswith(
            f'chant: error: Op "{name}" is already running (workflow {wid}); '
            "a second run cannot start until it ends\n"
            f"  hint: follow it with `chant status {name}`, or stop it with "
            f"`chant cancel {name}`\n"
        ), second.err

        cancel = chant_subprocess("cancel", name, cwd=root)
        assert (cancel.code, cancel.err) == (0, "")
        assert cancel.out == f"cancelling {wid}: running steps stop, then on_failure runs\n"
        assert run.wait(30) == 130, run.stderr()
        assert lines(tmp_path / "undo") == ["compensated"]
        assert not (tmp_path / "later").exists()
        assert wait_gone(sleep_pid), "the cancelled step's sleep is still running"
        out = run.stdout()
        assert "[compensation]" in out and "[phase] Undo (on_failure)" in out, out
        assert f'Op "{name}" interrupted after' in out, out
        history_shows(root, name, ["canceled"])

        closed = chant_subprocess("status", name, "--json", cwd=root)
        assert closed.code == 0, closed.err
        assert json.loads(closed.out)["state"] == "canceled"
    finally:
        stop_all(procs, tmp_path)


def test_cancel_force_terminates_without_compensation(op_project: MakeOp, tmp_path: Path) -> None:
    root, name = op_project("force", LIVE_OP)
    procs: list[Chant] = []
    try:
        run, sleep_pid = start_live(root, name, tmp_path, procs)

        cancel = chant_subprocess("cancel", name, "--force", cwd=root)
        assert (cancel.code, cancel.err) == (0, "")
        assert cancel.out == f"terminated {workflow_id(root, name)} (no compensation ran)\n"
        assert run.wait(15) == 130, run.stderr()
        assert (
            f'chant: the workflow of "{name}" ended terminated without finishing the Op'
            in run.stderr()
        )
        history_shows(root, name, ["terminated"])
        assert not (tmp_path / "undo").exists()
        assert not (tmp_path / "later").exists()
        # The follower's own worker stopped the step as it left.
        assert wait_gone(sleep_pid), "the terminated run's sleep is still running"

        again = chant_subprocess("cancel", name, "--force", cwd=root)
        assert again.code == 2
        assert f'Op "{name}" has no running workflow (its last run terminated)' in again.err
    finally:
        stop_all(procs, tmp_path)


def no_worker_message(root: Path, name: str, queue: str) -> str:
    return (
        f"cancel requested for {workflow_id(root, name)}, but no worker serves its task "
        f"queue {queue}: "
        "nothing happens (no step stops, no on_failure runs) until one polls it\n"
        "  start one with `chant worker` to stop the running steps and run on_failure, or "
        f"terminate the run now, without compensation: `chant cancel {name} --force`\n"
    )


def test_cancel_of_a_run_no_worker_serves_says_nothing_happens_until_one_polls(
    op_project: MakeOp, tmp_path: Path
) -> None:
    root, name = op_project("unserved", LIVE_OP)
    procs: list[Chant] = []
    try:
        # Started without a worker: the run waits for one on its task queue.
        run = Chant("run", name, "--no-worker", cwd=root, name="run")
        procs.append(run)
        run.wait_stderr("chant: waiting for a worker on task queue")
        cancel = chant_subprocess("cancel", name, cwd=root)
        assert (cancel.code, cancel.err) == (0, "")
        assert cancel.out == no_worker_message(root, name, f"q-{name}")
        time.sleep(1)
        status = chant_subprocess("status", name, "--json", cwd=root)
        assert json.loads(status.out)["state"] == "running"  # nothing happened, as said
        assert not (tmp_path / "undo").exists()
        assert not (tmp_path / "sleep.pid").exists()

        # A worker that comes carries the cancel out: the step never starts, on_failure runs.
        procs.append(Chant("worker", cwd=root, name="worker"))
        assert run.wait(60) == 130, run.stderr()
        assert lines(tmp_path / "undo") == ["compensated"]
        assert not (tmp_path / "sleep.pid").exists()
        assert not (tmp_path / "later").exists()
        out = run.stdout()
        assert "  – wait-here.1  " in out and "(skipped)" in out, out
        assert f'Op "{name}" interrupted after' in out, out
        history_shows(root, name, ["canceled"])
    finally:
        stop_all(procs, tmp_path)


def test_cancel_right_after_the_worker_died_says_nothing_happens_until_one_polls(
    op_project: MakeOp, tmp_path: Path
) -> None:
    # The server lists a worker as a poller for a minute after it is gone: chant checks
    # that one takes up the request, not only that one polled lately.
    root, name = op_project("orphan", LIVE_OP)
    procs: list[Chant] = []
    try:
        run, _ = start_live(root, name, tmp_path, procs)
        os.killpg(run.pid, signal.SIGKILL)
        run.proc.wait()
        cancel = chant_subprocess("cancel", name, cwd=root)
        assert (cancel.code, cancel.err) == (0, "")
        assert cancel.out == no_worker_message(root, name, f"q-{name}")
        assert not (tmp_path / "undo").exists()

        worker = Chant("worker", cwd=root, name="worker")
        procs.append(worker)
        until(lambda: lines(tmp_path / "undo") == ["compensated"], 60, "compensation", worker)
        history_shows(root, name, ["canceled"])
        assert not (tmp_path / "later").exists()
    finally:
        stop_all(procs, tmp_path)


DRIFT_OP = """
from chant import Op, Outcome, activity, phase


@activity
def probe(ctx=None) -> dict:
    return {{"drift": True}}


op = Op(
    name="{name}",
    phases=[phase("Check", [activity("probe", outcome=Outcome("Drift", "drift"))])],
)
"""


async def find_workflows(server: TemporalServer, query: str) -> list[tuple[str, str]]:
    client = await Client.connect(server.address, namespace=server.namespace)
    return [(wf.id, wf.run_id) async for wf in client.list_workflows(query)]


def test_history_lists_completed_runs_and_outcomes_are_searchable(
    op_project: MakeOp, temporal_server: TemporalServer
) -> None:
    root, name = op_project("drift", DRIFT_OP)
    run_ids = []
    for _ in range(2):
        ran = chant_subprocess("run", name, "--json", cwd=root)
        assert ran.code == 0, ran.err
        result = json.loads(ran.out)
        assert result["steps"][0]["outcome"] == {"name": "Drift", "value": True}
        assert "[outcome] Drift=true" in ran.err
        run_ids.append(result["run_id"])

    rows = history_shows(root, name, ["completed", "completed"])
    assert [r["run_id"] for r in rows] == run_ids[::-1]
    for row in rows:
        assert isinstance(row["duration_s"], float) and 0 <= row["duration_s"] < 30, row
        assert row["outcomes"] == ["Drift=true"]

    query = f"ChantOutcomes = 'Drift=true' AND ChantOp = '{name}'"
    deadline = time.monotonic() + 10
    while len(found := asyncio.run(find_workflows(temporal_server, query))) < 2:
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    assert sorted(found) == sorted((workflow_id(root, name), r) for r in run_ids)
    none = f"ChantOutcomes = 'Drift=false' AND ChantOp = '{name}'"
    assert asyncio.run(find_workflows(temporal_server, none)) == []

    closed = chant_subprocess("status", name, "--json", cwd=root)
    assert closed.code == 0, closed.err
    doc = json.loads(closed.out)
    assert (doc["state"], doc["run_id"], doc["outcomes"]) == (
        "completed",
        run_ids[1],
        {"Drift": True},
    )


BIG_OUTCOMES_OP = """
from chant import Op, Outcome, activity, phase


@activity
def report() -> dict:
    return {{"log": "y" * 3000, "tags": ["\u00e9" * 200] * 5, "ok": True}}


op = Op(
    name="{name}",
    phases=[
        phase(
            "Report",
            [
                activity("report", outcome=Outcome("Log", "log")),
                activity("report", outcome=Outcome("Tags", "tags")),
                activity("report", outcome=Outcome("Ok", "ok")),
            ],
        )
    ],
)
"""


def test_outcomes_over_temporals_2048_byte_limit_are_cut_in_chant_outcomes_only(
    op_project: MakeOp, temporal_server: TemporalServer
) -> None:
    """The server terminated the run (BadSearchAttributes) when ChantOutcomes grew
    over 2048 bytes; now the longest values are cut there, the run completes, and its
    record, the run's output and ``chant status`` keep every outcome in full."""
    root, name = op_project("bigout", BIG_OUTCOMES_OP)
    ran = chant_subprocess("run", name, "--json", cwd=root, timeout=60)
    assert ran.code == 0, ran.err
    steps = json.loads(ran.out)["steps"]
    assert [s["outcome"]["value"] for s in steps] == ["y" * 3000, ["\u00e9" * 200] * 5, True]
    assert "[outcome] Log=" + "y" * 3000 + "\n" in ran.err
    rows = history_shows(root, name, ["completed"])
    entries = rows[0]["outcomes"]
    assert [e.split("=")[0] for e in entries] == ["Log", "Tags", "Ok"]
    assert entries[2] == "Ok=true"
    assert entries[0].startswith("Log=yyy") and entries[0].endswith("\u2026")
    assert len(json.dumps(entries, separators=(",", ":"))) <= 2048
    status = chant_subprocess("status", name, cwd=root)
    tags = json.dumps(["\u00e9" * 200] * 5, ensure_ascii=False)
    assert f"  outcome  Tags={tags}\n" in status.out


DETACH_OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[phase("Slow", [shell("echo $$ > {tmp}/sleep.pid; sleep 3; echo done >> {tmp}/log")])],
)
"""


async def described_status(server: TemporalServer, workflow_id: str) -> str | None:
    client = await Client.connect(server.address, namespace=server.namespace)
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except Exception:
        return None
    return described.status.name if described.status else None


def test_ctrl_c_detaches_and_the_workflow_runs_on_with_a_worker(
    op_project: MakeOp, temporal_server: TemporalServer, tmp_path: Path
) -> None:
    root, name = op_project("detach", DETACH_OP)
    wid = workflow_id(root, name)
    procs: list[Chant] = []
    try:
        # No worker anywhere: the workflow is started and waits for one.
        run = Chant("run", name, "--no-worker", cwd=root, name="run")
        procs.append(run)
        until(
            lambda: asyncio.run(described_status(temporal_server, wid)) == "RUNNING",
            20,
            "the workflow started",
            run,
        )
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(10) == 130, run.stderr()
        err = run.stderr()
        assert (
            f"chant: detached — workflow {wid} keeps running on Temporal "
            f"(it needs a worker on task queue q-{name}: `chant worker`)\n"
            f"  follow it: chant status {name}\n"
            f"  cancel it: chant cancel {name}\n"
        ) in err, err
        assert "Traceback" not in err
        assert asyncio.run(described_status(temporal_server, wid)) == "RUNNING"

        worker = Chant("worker", cwd=root, name="worker")
        procs.append(worker)
        until(lambda: bool(lines(tmp_path / "sleep.pid")), 20, "the step started", worker)
        status = chant_subprocess("status", name, "--json", cwd=root)
        assert status.code == 0, status.err
        doc = json.loads(status.out)
        assert (doc["state"], doc["phase"]) == ("running", "Slow")
        assert [(s["step"], s["status"]) for s in doc["steps"]] == [("slow.1", "running")]

        until(lambda: lines(tmp_path / "log") == ["done"], 20, "the step's work", worker)
        history_shows(root, name, ["completed"])
    finally:
        stop_all(procs, tmp_path)


def test_an_op_without_runs(make_project: MakeProject, temporal_server: TemporalServer) -> None:
    name = f"nosuchop-{uuid.uuid4().hex[:8]}"
    root = make_project({"chant.toml": temporal_server.toml(f"q-{name}")})
    no_run = (
        f'chant: error: Op "{name}" has no running workflow\n'
        f"  hint: start one with `chant run {name}`; `chant history {name}` lists past runs\n"
    )
    for command in ("status", "cancel"):
        ran = chant_subprocess(command, name, cwd=root)
        assert (ran.code, ran.out, ran.err) == (2, "", no_run)
    listed = chant_subprocess("history", name, cwd=root)
    assert (listed.code, listed.err) == (0, "")
    assert listed.out == f'no runs of "{name}" on {temporal_server.address} (default)\n'
    assert history(root, name) == []
