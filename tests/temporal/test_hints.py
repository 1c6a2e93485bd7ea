"""Hints name what the user has, and temporalio's own log lines stay off the terminal.

Real ``chant`` processes against the session's dev server (or a port where nothing
listens). A project without a ``[temporal]`` table uses the built-in profile, at
``$TEMPORAL_ADDRESS`` when set (as the ``temporal`` CLI does), else 127.0.0.1:7233.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from temporalio.client import Client

from conftest import MakeProject, chant_subprocess
from temporal_procs import Chant, until
from temporal_server import TemporalServer, free_port, workflow_id

HELLO = """
from chant import Op, phase, shell

hello = Op(name="{name}", phases=[phase("Greet", [shell("echo hello")])])
"""

NO_TABLE = '[project]\nops = ["ops"]\n'


def _untabled(make_project: MakeProject, name: str) -> Path:
    return make_project({"chant.toml": NO_TABLE, "ops/hello.op.py": HELLO.format(name=name)})


def test_without_a_temporal_table_unreachable_names_the_built_in_profile(
    make_project: MakeProject,
) -> None:
    root = _untabled(make_project, "hello")
    address = f"127.0.0.1:{free_port()}"
    expected = (
        f"chant: error: cannot reach Temporal at {address} (the built-in profile, used "
        "because chant.toml has no [temporal] table; address from $TEMPORAL_ADDRESS): "
        "connection refused\n"
        "  hint: start the dev server with `chant server start`, or add a [temporal] table "
        "to chant.toml to use another cluster or start it by itself (see docs/temporal.md)\n"
    )
    for args in (["run", "hello", "--temporal"], ["status", "hello"], ["history", "hello"]):
        ran = chant_subprocess(*args, cwd=root, env={"TEMPORAL_ADDRESS": address})
        assert (ran.code, ran.out, ran.err) == (3, "", expected), args
        assert "profiles.default" not in ran.err
        assert "runs here are local" not in ran.err


def test_status_and_history_find_temporal_runs_of_a_project_without_a_temporal_table(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    name = f"untabled-{uuid.uuid4().hex[:8]}"
    root = _untabled(make_project, name)
    env = {"TEMPORAL_ADDRESS": temporal_server.address}
    ran = chant_subprocess("run", name, "--temporal", cwd=root, env=env)
    assert ran.code == 0, ran.err
    status = chant_subprocess("status", name, cwd=root, env=env)
    assert (status.code, status.err) == (0, "")
    assert status.out.startswith(
        f"Op {name}: completed (workflow {workflow_id(root, name)}, run "
    ), status.out
    listed = chant_subprocess("history", name, "--json", cwd=root, env=env)
    assert listed.code == 0, listed.err
    assert [row["status"] for row in json.loads(listed.out)] == ["completed"]


def test_an_auto_start_profile_is_not_told_to_set_auto_start() -> None:
    from chant.config import TemporalProfile
    from chant.temporal.connect import unreachable

    error = unreachable(TemporalProfile(name="dev", auto_start=True), "connection refused")
    assert error.hint == "start one with `chant server start`, or run with --local"
    error = unreachable(TemporalProfile(name="lab"), "connection refused")
    assert error.hint == (
        "start one with `chant server start --profile lab`, set auto_start = true in "
        "[temporal.profiles.lab], or run with --local"
    )


SDK_MARKERS = ("sdk_core", "temporalio", "Traceback", "ResourceExhausted")

CHATTY = """
from chant import Op, phase, shell

chatty = Op(
    name="{name}",
    phases=[phase("Talk", [
        shell("i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done"),
        shell("for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.25; done"),
    ], parallel=True)],
)
"""


def _no_sdk_lines(text: str) -> None:
    for marker in SDK_MARKERS:
        assert marker not in text, text


def test_a_no_worker_run_of_a_busy_workflow_prints_no_sdk_log_lines(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    name = f"chatty-{uuid.uuid4().hex[:8]}"
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"q-{name}"),
            "ops/chatty.op.py": CHATTY.format(name=name),
        }
    )
    worker = Chant("worker", cwd=root, name="worker")
    try:
        worker.wait_stderr("polling task queue", 30)
        ran = chant_subprocess("run", name, "--no-worker", cwd=root)
        assert ran.code == 0, ran.err
        assert ran.err == 'chant: [temporal] found in chant.toml — running "' + name + (
            '" on Temporal\n'
        )
        ran = chant_subprocess("run", name, cwd=root)  # with the worker in this process too
        assert ran.code == 0, ran.err
        _no_sdk_lines(ran.err)
    finally:
        worker.stop()
    _no_sdk_lines(worker.stderr())


async def _start_unknown_workflow(server: TemporalServer, queue: str) -> str:
    client = await Client.connect(server.address, namespace=server.namespace)
    wid = f"unknown-{uuid.uuid4().hex[:8]}"
    await client.start_workflow("NoSuchWorkflow", id=wid, task_queue=queue)
    return wid


async def _terminate(server: TemporalServer, wid: str) -> None:
    client = await Client.connect(server.address, namespace=server.namespace)
    await client.get_workflow_handle(wid).terminate()


def test_sdk_warnings_go_to_the_project_log_and_to_stderr_only_with_debug(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    queue = f"q-sdklog-{uuid.uuid4().hex[:6]}"
    root = make_project({"chant.toml": temporal_server.toml(queue)})
    log = root / ".chant" / "logs" / "temporal.log"
    quiet = Chant("worker", cwd=root, name="quiet")
    started: list[str] = []
    try:
        quiet.wait_stderr("polling task queue", 30)
        # A workflow type no chant worker knows: the SDK logs a warning for it.
        started.append(asyncio.run(_start_unknown_workflow(temporal_server, queue)))
        until(lambda: log.exists() and "NoSuchWorkflow" in log.read_text(), 30, "the log line")
        quiet.stop()
        _no_sdk_lines(quiet.stderr())
        assert (root / ".chant" / ".gitignore").read_text() == "*\n"

        loud = Chant("worker", "--debug", cwd=root, name="loud")
        try:
            loud.wait_stderr("polling task queue", 30)
            started.append(asyncio.run(_start_unknown_workflow(temporal_server, queue)))
            until(lambda: "NoSuchWorkflow" in loud.stderr(), 30, "the line on stderr", loud)
        finally:
            loud.stop()
    finally:
        quiet.stop()
        for wid in started:
            asyncio.run(_terminate(temporal_server, wid))


def test_without_a_temporal_table_the_not_running_hint_says_run_with_temporal(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    # A plain `chant run NAME` is local here: the hint must not send the user there.
    name = f"idle-{uuid.uuid4().hex[:8]}"
    root = _untabled(make_project, name)
    env = {"TEMPORAL_ADDRESS": temporal_server.address}
    for args in (["status", name], ["cancel", name], ["signal", name, "go"]):
        ran = chant_subprocess(*args, cwd=root, env=env)
        assert (ran.code, ran.out, ran.err) == (
            2,
            "",
            f'chant: error: Op "{name}" has no running workflow\n'
            f"  hint: start one with `chant run {name} --temporal`; `chant history {name}` "
            "lists past runs\n",
        ), args


def test_hints_carry_the_profile_given(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    name = f"prof-{uuid.uuid4().hex[:8]}"
    toml = (
        f'[temporal]\ndefault_profile = "main"\n'
        f'[temporal.profiles.main]\naddress = "127.0.0.1:{free_port()}"\n'
        f'[temporal.profiles.lab]\naddress = "{temporal_server.address}"\n'
        f'namespace = "{temporal_server.namespace}"\ntask_queue = "q-{name}"\n'
    )
    gate = (
        "from chant import Op, gate, phase\n\n"
        f'held = Op(name="{name}", phases=[phase("Hold", [gate("go", timeout="5m")])])\n'
    )
    root = make_project({"chant.toml": toml, "ops/held.op.py": gate})
    idle = chant_subprocess("status", name, "--profile", "lab", cwd=root)
    assert (idle.code, idle.err) == (
        2,
        f'chant: error: Op "{name}" has no running workflow\n'
        f"  hint: start one with `chant run {name} --profile lab`; `chant history {name} "
        "--profile lab` lists past runs\n",
    )
    run = Chant("run", name, "--no-worker", "--profile", "lab", cwd=root, name="run")
    try:
        until(
            lambda: chant_subprocess("status", name, "--profile", "lab", cwd=root).code == 0,
            30,
            "the run to start",
            run,
        )
        status = chant_subprocess("status", name, "--profile", "lab", cwd=root)
        assert (
            f"no worker answered: start one with `chant worker --profile lab` (task queue q-{name})"
        ) in status.out, status.out
        signal = chant_subprocess("signal", name, "go", "--profile", "lab", cwd=root)
        assert (signal.code, signal.err.splitlines()[-1]) == (
            3,
            "  hint: is a worker running for its task queue? start one with "
            "`chant worker --profile lab`",
        )
    finally:
        chant_subprocess("cancel", name, "--force", "--profile", "lab", cwd=root)
        run.stop()
