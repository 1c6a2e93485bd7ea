"""``chant schedule apply|list|delete`` against a real dev server and a real worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from conftest import Chant, MakeProject, Ran, chant_subprocess
from temporal_server import TemporalServer, project_id, workflow_id

TICKER = """
from chant import Op, phase, shell

ticker = Op(
    name="{name}",
    phases=[phase("Tick", [shell("echo tick >> ticks.log")])],
    schedule="every 2s",
)
"""


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker, and SIGKILL its process group if it does not stop in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def schedule_id(root: Path, op: str) -> str:
    return f"chant-{project_id(root)}-schedule-{op}"


@dataclass
class Ticking:
    """A project whose Op ``name`` runs every 2s from its Schedule, with a worker."""

    root: Path
    name: str
    applied: Ran

    def ticks(self) -> int:
        path = self.root / "ticks.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def chant(self, *args: str) -> Ran:
        return chant_subprocess(*args, cwd=self.root, env={"HOME": str(self.root / "home")})


@pytest.fixture(scope="module")
def ticking(
    temporal_server: TemporalServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ticking]:
    """Applied once, left ticking until it has run twice; deleted and stopped at the end."""
    name = f"ticker-{uuid.uuid4().hex[:6]}"
    root = tmp_path_factory.mktemp("ticking")
    (root / "home").mkdir()
    (root / "chant.toml").write_text(temporal_server.toml(name))
    (root / "ticker.op.py").write_text(TICKER.format(name=name))
    with (root / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "chant", "worker"],
            cwd=root,
            env={**os.environ, "HOME": str(root / "home")},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    ticking = Ticking(root, name, applied=Ran(-1, "", ""))
    try:
        ticking.applied = ticking.chant("schedule", "apply")
        if ticking.applied.code == 0:
            _wait_for(lambda: ticking.ticks() >= 2, "two scheduled runs")
        yield ticking
    finally:
        ticking.chant("schedule", "delete", name)
        _stop(worker)


def test_apply_creates_a_schedule_whose_runs_a_worker_executes_until_it_is_deleted(
    ticking: Ticking,
) -> None:
    name = ticking.name
    sid, wid = schedule_id(ticking.root, name), workflow_id(ticking.root, name)
    applied = ticking.applied
    assert (applied.code, applied.err) == (0, "")
    assert applied.out == (
        f"created    {sid}  every 2s  → {wid} on task queue {name}\n"
        f"next: keep a `chant worker` polling task queue {name} — a Schedule only starts "
        "runs, workers run them; re-run `chant schedule apply` after changing a scheduled Op\n"
    )
    assert ticking.ticks() >= 2

    listed = ticking.chant("schedule", "list")
    assert listed.code == 0, listed.err
    head, *rows = listed.out.splitlines()
    assert head.split("  ")[0:1] == ["OP"]
    mine = [r.split() for r in rows if r.startswith(f"{name} ")]
    assert len(mine) == 1
    assert mine[0][:4] == [name, "every", "2s", name]
    assert mine[0][-1] == "active"

    again = ticking.chant("schedule", "apply")
    assert again.code == 0, again.err
    assert again.out.startswith(f"unchanged  {sid}  every 2s  → ")

    deleted = ticking.chant("schedule", "delete", name)
    assert (deleted.code, deleted.out) == (
        0,
        f"deleted  {sid} (a run it already started goes on to its end; "
        f"`chant history {name}` lists its runs)\n",
    )
    after = ticking.ticks()
    time.sleep(5)
    assert ticking.ticks() <= after + 1  # only a run already in flight may still finish
    gone = ticking.chant("schedule", "list", "--json")
    assert gone.code == 0, gone.err
    assert [s["op"] for s in json.loads(gone.out) if s["op"] == name] == []


def test_scheduled_runs_carry_the_op_attribute_so_history_lists_them(ticking: Ticking) -> None:
    history = ticking.chant("history", ticking.name, "--json")
    assert history.code == 0, history.err
    statuses = [run["status"] for run in json.loads(history.out)]
    assert statuses.count("completed") >= 2, statuses


def test_list_json_describes_each_schedule(
    make_project: MakeProject, chant: Chant, temporal_server: TemporalServer
) -> None:
    name = f"nightly-{uuid.uuid4().hex[:6]}"
    root = make_project(
        {
            "chant.toml": temporal_server.toml(name),
            "nightly.op.py": TICKER.format(name=name).replace("every 2s", "0 3 * * MON-FRI"),
        }
    )
    assert chant("schedule", "apply", cwd=root).code == 0
    try:
        listed = chant("schedule", "list", "--json", cwd=root)
        assert listed.code == 0, listed.err
        (mine,) = [s for s in json.loads(listed.out) if s["op"] == name]
        assert len(mine.pop("next_runs")) == 3
        assert mine == {
            "op": name,
            "schedule_id": schedule_id(root, name),
            "spec": "0 3 * * MON-FRI",
            "workflow_id": workflow_id(root, name),
            "task_queue": name,
            "paused": False,
            "runs_started": 0,
            "recent_actions": 0,
            "skipped_overlap": 0,
        }
    finally:
        chant("schedule", "delete", name, cwd=root)


def test_apply_updates_a_changed_op_keeping_it_paused_and_deletes_unscheduled_ones(
    make_project: MakeProject, chant: Chant, temporal_server: TemporalServer
) -> None:
    tag = uuid.uuid4().hex[:6]
    a, b = f"a-{tag}", f"b-{tag}"
    op = TICKER.replace("ticker =", "{var} =")

    def write(a_schedule: str, b_schedule: str | None) -> Path:
        files = {
            "chant.toml": temporal_server.toml(f"q-{tag}"),
            "a.op.py": op.format(name=a, var="a").replace("every 2s", a_schedule),
            "b.op.py": op.format(name=b, var="b").replace(
                'schedule="every 2s"', f"schedule={b_schedule!r}"
            ),
        }
        return make_project(files)

    root = write("every 1h", "0 3 * * *")
    try:
        created = chant("schedule", "apply", cwd=root)
        assert created.code == 0, created.err
        sid_a, sid_b = schedule_id(root, a), schedule_id(root, b)
        wid_a, wid_b = workflow_id(root, a), workflow_id(root, b)
        assert created.out.splitlines()[:2] == [
            f"created    {sid_a}  every 1h   → {wid_a} on task queue q-{tag}",
            f"created    {sid_b}  0 3 * * *  → {wid_b} on task queue q-{tag}",
        ]
        asyncio.run(_pause(temporal_server, sid_a))

        write("every 2h", None)
        changed = chant("schedule", "apply", cwd=root)
        assert changed.code == 0, changed.err
        assert changed.out.splitlines()[:2] == [
            f"updated    {sid_a}  every 2h  → {wid_a} on task queue q-{tag}",
            f'deleted    {sid_b}  (Op "{b}" has no schedule now)',
        ]
        (listed,) = [
            s
            for s in json.loads(chant("schedule", "list", "--json", cwd=root).out)
            if s["op"] in (a, b)
        ]
        assert (listed["op"], listed["spec"], listed["paused"]) == (a, "every 2h", True)

        (root / "a.op.py").unlink()
        gone = chant("schedule", "apply", cwd=root)
        assert (gone.code, gone.out) == (
            0,
            f'deleted    {sid_a}  (no Op "{a}" in this project)\n',
        )
    finally:
        for name in (a, b):
            chant("schedule", "delete", name, cwd=root)


async def _pause(server: TemporalServer, schedule_id: str) -> None:
    client = await Client.connect(server.address, namespace=server.namespace)
    await client.get_schedule_handle(schedule_id).pause(note="paused by the test")


def test_deleting_the_schedule_of_an_unknown_op_exits_2_naming_the_ones_there_are(
    make_project: MakeProject, chant: Chant, temporal_server: TemporalServer
) -> None:
    name = f"report-{uuid.uuid4().hex[:6]}"
    root = make_project(
        {
            "chant.toml": temporal_server.toml(name),
            "report.op.py": TICKER.format(name=name).replace("every 2s", "every 1h"),
        }
    )
    assert chant("schedule", "apply", cwd=root).code == 0
    try:
        missing = chant("schedule", "delete", f"{name}x", cwd=root)
        assert (missing.code, missing.out) == (2, "")
        assert missing.err == (
            f'chant: error: no Schedule for Op "{name}x" ({schedule_id(root, name)}x); '
            f"Schedules: {name}\n"  # this project's only, whatever other tests made
            f'  hint: did you mean "{name}"?\n'
        )
    finally:
        chant("schedule", "delete", name, cwd=root)
