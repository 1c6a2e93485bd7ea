"""Parameters, references and conditions on Temporal, against a real dev server.

The values travel in the workflow's input (``{"op": IR, "params": {…}}``) and its
memo; the interpreter workflow checks them, and the shared walk resolves ``param()``,
``out()``, ``outcome()`` and f-strings from the recorded results before each activity
is scheduled, so the activity's input holds the resolved values. ``chant status`` and
``chant history`` show each run's values; a Schedule runs with ``schedule_params``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from conftest import Chant, MakeOp, MakeProject, chant_subprocess
from temporal_procs import Chant as LongChant
from temporal_procs import lines, until
from temporal_server import TemporalServer, project_id, workflow_id

DATA_FLOW_OP = """
from chant import Op, Outcome, Param, out, outcome, param, phase, shell

op = Op(
    name="{name}",
    params={{
        "version": Param(str, default="1.0", help="image tag"),
        "env": Param(str, default="staging", choices=["staging", "prod"]),
        "replicas": Param(int, default=2),
    }},
    phases=[
        phase("Build", [
            shell(f"echo image:{{param('version')}}", id="build",
                  outcome=Outcome("Image", "stdout")),
        ]),
        phase("Deploy", [
            shell(
                f"echo deploying {{out('build', 'stdout')}} to {{param('env')}} "
                f"x{{param('replicas')}} >> {tmp}/deployed",
                id="deploy",
            ),
            shell("echo smoke >> {tmp}/smoke", id="smoke", when=param("env") == "prod"),
        ]),
        phase(
            "Announce",
            [shell(f"echo announced {{outcome('Image')}} >> {tmp}/announced", id="announce")],
            when=param("replicas") > 1,
        ),
    ],
)
"""

BLOB_OP = """
from chant import Op, Param, param, phase, shell

op = Op(
    name="{name}",
    params={{"blob": Param(str)}},
    phases=[phase("P", [shell(f"test -n '{{param('blob')}}'")])],
)
"""

PLAIN_OP = """
from chant import Op, phase, shell

op = Op(name="{name}", phases=[phase("P", [shell("true")])])
"""


def _json(ran: Any) -> Any:
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def _history(root: Path, name: str, runs: int) -> list[dict[str, Any]]:
    """``chant history --json`` once it lists ``runs`` closed runs (visibility lags)."""
    deadline = time.monotonic() + 15
    while True:
        rows: list[dict[str, Any]] = _json(chant_subprocess("history", name, "--json", cwd=root))
        closed = [r for r in rows if r["status"] != "running"]
        if len(closed) >= runs or time.monotonic() > deadline:
            assert len(closed) >= runs, rows
            return rows
        time.sleep(0.2)


async def _activity_inputs(server: TemporalServer, wid: str) -> dict[str, Any]:
    """The input of each activity the workflow scheduled, by activity id."""
    client = await Client.connect(server.address, namespace=server.namespace)
    history = await client.get_workflow_handle(wid).fetch_history()
    found = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            (payload,) = await client.data_converter.decode(attrs.input.payloads)
            found[attrs.activity_id] = payload
    return found


def test_references_f_strings_and_conditions_are_resolved_inside_the_workflow(
    op_project: MakeOp, tmp_path: Path, temporal_server: TemporalServer
) -> None:
    root, name = op_project("flow", DATA_FLOW_OP)
    ran = chant_subprocess("run", name, "--temporal", "--json", cwd=root, timeout=120)
    assert ran.code == 0, ran.err
    record = json.loads(ran.out)
    steps = {s["id"]: s for s in record["steps"]}
    deploy_cmd = f"echo deploying image:1.0 to staging x2 >> {tmp_path}/deployed"
    assert steps["build"]["args"] == {"cmd": "echo image:1.0"}
    assert steps["deploy"]["args"] == {"cmd": deploy_cmd}
    assert (steps["smoke"]["status"], steps["smoke"]["attempts"], steps["smoke"]["reason"]) == (
        "skipped",
        0,
        'condition false: env == "prod" (env is "staging")',
    )
    assert steps["announce"]["status"] == "ok"
    assert lines(tmp_path / "deployed") == ["deploying image:1.0 to staging x2"]
    assert lines(tmp_path / "announced") == ["announced image:1.0"]
    assert not (tmp_path / "smoke").exists()

    # The activities were sent the resolved arguments: the workflow resolved them.
    sent = asyncio.run(_activity_inputs(temporal_server, workflow_id(root, name)))
    assert sorted(sent) == ["announce", "build", "deploy"]
    assert sent["deploy"]["args"] == {"cmd": deploy_cmd}
    assert sent["announce"]["args"] == {"cmd": f"echo announced image:1.0 >> {tmp_path}/announced"}

    # chant status says why the step was skipped (the closed run's record has it).
    reason = 'condition false: env == "prod" (env is "staging")'
    status = _json(chant_subprocess("status", name, "--json", cwd=root))
    (smoke,) = [s for s in status["steps"] if s["step"] == "smoke"]
    assert (smoke["status"], smoke["reason"]) == ("skipped", reason)
    text = chant_subprocess("status", name, cwd=root).out.splitlines()
    assert f"  step     smoke (shell): skipped: {reason}" in text, text


def test_a_skipped_step_shows_its_reason_in_the_human_view(op_project: MakeOp) -> None:
    root, name = op_project("skipview", DATA_FLOW_OP)
    ran = chant_subprocess("run", name, "--temporal", cwd=root, timeout=120)
    assert ran.code == 0, ran.err
    skipped = [line for line in ran.out.splitlines() if "smoke" in line]
    assert len(skipped) == 1, ran.out
    assert 'condition false: env == "prod" (env is "staging")' in skipped[0]


@pytest.fixture
def worker_on(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> Iterator[Callable[[str], tuple[Path, str, str]]]:
    """``worker_on(op_text)``: a project holding the Op (formatted with ``name`` and
    ``tmp``) and a ``chant worker`` polling its task queue: ``(root, name, queue)``."""
    workers: list[LongChant] = []
    made: list[tuple[Path, str]] = []

    def make(text: str) -> tuple[Path, str, str]:
        name = f"given-{uuid.uuid4().hex[:8]}"
        queue = f"q-{name}"
        root = make_project(
            {
                "chant.toml": temporal_server.toml(queue),
                "ops/op.op.py": text.format(name=name, tmp=tmp_path),
            },
            folder=name,
        )
        worker = LongChant("worker", cwd=root, name="worker")
        workers.append(worker)
        made.append((root, name))
        worker.wait_stderr("polling task queue", 30)
        return root, name, queue

    try:
        yield make
    finally:
        for root, name in made:
            chant_subprocess("cancel", name, "--force", cwd=root, timeout=30)
        for worker in workers:
            worker.stop()


def test_values_given_reach_the_steps_and_status_and_history_show_them(
    op_project: MakeOp, tmp_path: Path
) -> None:
    root, name = op_project("given", DATA_FLOW_OP)
    ran = chant_subprocess(
        "run", name, "version=2.5", "env=prod", "--temporal", "--json", cwd=root, timeout=120
    )
    assert ran.code == 0, ran.err
    assert lines(tmp_path / "deployed") == ["deploying image:2.5 to prod x2"]
    assert lines(tmp_path / "smoke") == ["smoke"]
    values = {"version": "2.5", "env": "prod", "replicas": 2}  # the default filled in

    status = _json(chant_subprocess("status", name, "--json", cwd=root))
    assert (status["state"], status["params"]) == ("completed", values)
    text = chant_subprocess("status", name, cwd=root)
    assert text.code == 0, text.err
    assert text.out.splitlines()[2:5] == [
        "  param    env=prod",
        "  param    replicas=2",
        "  param    version=2.5",
    ]

    (row,) = _history(root, name, 1)
    assert row["params"] == values
    listed = chant_subprocess("history", name, cwd=root)
    assert listed.code == 0, listed.err
    head, line = listed.out.splitlines()
    assert head == "START (UTC)          STATUS       DURATION  OUTCOMES         PARAMS"
    assert line.endswith("  Image=image:2.5  env=prod replicas=2 version=2.5"), line


def test_a_running_run_shows_its_values_from_the_workflow(
    worker_on: Callable[[str], tuple[Path, str, str]], temporal_server: TemporalServer
) -> None:
    root, name, queue = worker_on(
        """
from chant import Op, Param, param, phase, shell

op = Op(
    name="{name}",
    params={{"pause": Param(int, default=30), "note": Param(str)}},
    phases=[
        phase("Wait", [
            shell("echo never", id="never", when=param("pause") > 100),
            shell(f"sleep {{param('pause')}}", id="sleep"),
        ]),
    ],
)
"""
    )

    async def start() -> None:
        from chant.project import load_project
        from chant.temporal import runner
        from chant.temporal.workflow import workflow_input

        op = load_project(root).ops[name]
        client = await Client.connect(temporal_server.address, namespace=temporal_server.namespace)
        # Values handed over without the default: the workflow fills it in.
        await client.start_workflow(
            "ChantOp",
            workflow_input(op, {"note": "two words"}),
            id=workflow_id(root, name),
            task_queue=queue,
            search_attributes=runner.search_attributes(op, project_id(root)),
        )

    asyncio.run(start())
    deadline = time.monotonic() + 20
    while True:
        status = _json(chant_subprocess("status", name, "--json", cwd=root))
        if len(status["steps"]) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["state"] == "running"
    assert status["params"] == {"pause": 30, "note": "two words"}
    text = chant_subprocess("status", name, cwd=root).out.splitlines()
    assert text[2:] == [
        '  param    note="two words"',
        "  param    pause=30",
        "  phase    Wait",
        "  step     never (shell): skipped: condition false: pause > 100 (pause is 30)",
        "  step     sleep (shell): running",
    ]
    assert status["steps"][0] == {
        "step": "never",
        "fn": "shell",
        "status": "skipped",
        "attempts": 0,
        "phase": "Wait",
        "error": None,
        "reason": "condition false: pause > 100 (pause is 30)",
    }


def test_values_that_do_not_fit_are_refused_before_a_run_starts(op_project: MakeOp) -> None:
    root, name = op_project("refused", DATA_FLOW_OP)
    ran = chant_subprocess("run", name, "replicas=many", "--temporal", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.startswith(f'chant: error: op "{name}": replicas=many: must be an integer\n'), (
        ran.err
    )
    never = chant_subprocess("status", name, cwd=root)
    assert never.code == 2, never.err  # no workflow was started
    assert f'Op "{name}" has no running workflow' in never.err


def test_values_too_big_for_the_memo_are_read_from_the_input_and_too_big_ones_refused(
    op_project: MakeOp, tmp_path: Path
) -> None:
    root, name = op_project("blob", BLOB_OP)
    (tmp_path / "big.json").write_text(json.dumps({"blob": "x" * 20_000}))
    ran = chant_subprocess(
        "run", name, "--params-file", str(tmp_path / "big.json"), "--temporal", cwd=root
    )
    assert ran.code == 0, ran.err
    (row,) = _history(root, name, 1)
    assert row["params"] == {"$left_out": "the values take 20,011 bytes"}
    listed = chant_subprocess("history", name, cwd=root).out.splitlines()
    assert listed[1].endswith(
        "  (not listed: the values take 20,011 bytes; `chant status` shows the latest run's)"
    ), listed
    status = _json(chant_subprocess("status", name, "--json", cwd=root))
    assert status["params"] == {"blob": "x" * 20_000}

    (tmp_path / "huge.json").write_text(json.dumps({"blob": "x" * 2_200_000}))
    huge = chant_subprocess(
        "run", name, "--params-file", str(tmp_path / "huge.json"), "--temporal", cwd=root
    )
    assert (huge.code, huge.out) == (2, "")
    assert huge.err.startswith(
        f'chant: error: op "{name}": its IR and parameter values take 2,20'
    ), huge.err
    assert (
        "bytes (2.1 MiB), over Temporal's limit of 2,097,152 bytes (2 MiB) for a workflow's "
        "input\n  hint: split it into smaller Ops, or move large arguments and parameter "
        "values into files its steps read\n"
    ) in huge.err
    assert len(_history(root, name, 1)) == 1  # nothing more started


def test_runs_of_an_op_without_parameters_show_none(op_project: MakeOp) -> None:
    root, name = op_project("plain", PLAIN_OP)
    ran = chant_subprocess("run", name, "--temporal", cwd=root, timeout=120)
    assert ran.code == 0, ran.err
    status = _json(chant_subprocess("status", name, "--json", cwd=root))
    assert status["params"] == {}
    text = chant_subprocess("status", name, cwd=root).out
    assert "param" not in text
    (row,) = _history(root, name, 1)
    assert row["params"] == {}
    listed = chant_subprocess("history", name, cwd=root).out.splitlines()
    assert listed[0] == "START (UTC)          STATUS       DURATION  OUTCOMES"


PARAM_IR: dict[str, Any] = {
    "schema_version": 1,
    "name": "bad-params",
    "overview": "",
    "phases": [
        {
            "name": "P",
            "steps": [
                {
                    "kind": "activity",
                    "id": "p.1",
                    "fn": "shell",
                    "args": {"cmd": {"$format": ["echo ", {"$param": "version"}]}},
                    "profile": {
                        "name": None,
                        "timeout": "5s",
                        "heartbeat_timeout": None,
                        "retry": {
                            "max_attempts": 1,
                            "initial_interval": "1s",
                            "backoff_coefficient": 2.0,
                            "maximum_interval": None,
                            "non_retryable_error_types": [],
                        },
                    },
                    "outcome": None,
                }
            ],
            "parallel": False,
            "fail_fast": False,
            "max_concurrency": None,
        }
    ],
    "on_failure": [],
    "depends": [],
    "task_queue": None,
    "search_attributes": {},
    "schedule": None,
    "params": {
        "version": {"type": "str", "choices": None, "help": ""},
        "env": {"type": "str", "default": "staging", "choices": ["staging", "prod"], "help": ""},
        "replicas": {"type": "int", "default": 1, "choices": None, "help": ""},
    },
}

DOES_NOT_FIT = 'the parameter values handed to this workflow do not fit Op "bad-params": '
BAD_PARAMS: list[tuple[str, Any, str]] = [
    ("none given", {"op": PARAM_IR}, DOES_NOT_FIT + 'missing required parameter "version"'),
    (
        "unknown and missing",
        {"op": PARAM_IR, "params": {"verison": "1"}},
        DOES_NOT_FIT
        + 'params["verison"]: unknown parameter; did you mean "version"?; '
        + 'missing required parameter "version"',
    ),
    (
        "wrong type",
        {"op": PARAM_IR, "params": {"version": "1", "replicas": "3"}},
        DOES_NOT_FIT + 'params["replicas"]: must be an integer, got "3"',
    ),
    (
        "not a choice",
        {"op": PARAM_IR, "params": {"version": "1", "env": "qa"}},
        DOES_NOT_FIT + 'params["env"]: "qa" is not one of "staging", "prod"',
    ),
    (
        "params not an object",
        {"op": PARAM_IR, "params": ["version=1"]},
        DOES_NOT_FIT + 'params must be a mapping of parameter names to values, got ["version=1"]',
    ),
    (
        "another key",
        {"op": PARAM_IR, "params": {"version": "1"}, "env": "prod"},
        'the Op handed to this workflow is not valid IR: the input must be {"op": <the IR of '
        'chant build>} (with "params": {NAME: value} for an Op with parameters)',
    ),
]


async def _failure(server: TemporalServer, queue: str, arg: Any) -> tuple[str, str]:
    client = await Client.connect(server.address, namespace=server.namespace)
    handle = await client.start_workflow(
        "ChantOp", arg, id=f"bad-params-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    with pytest.raises(WorkflowFailureError) as err:
        await asyncio.wait_for(handle.result(), 30)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.non_retryable
    return str(cause.type), cause.message


def test_values_that_do_not_fit_fail_a_hand_started_run_with_invalid_op_error(
    worker_on: Callable[[str], tuple[Path, str, str]], temporal_server: TemporalServer
) -> None:
    _, _, queue = worker_on(PLAIN_OP)

    async def all_cases() -> list[tuple[str, str]]:
        return [await _failure(temporal_server, queue, arg) for _, arg, _ in BAD_PARAMS]

    for (kind, message), (what, _, expected) in zip(
        asyncio.run(all_cases()), BAD_PARAMS, strict=True
    ):
        assert (kind, message) == ("InvalidOpError", expected), what


SCHEDULED = """
from chant import Op, Param, param, phase, shell

{var} = Op(
    name="{name}",
    params={{
        "tag": Param(str),
        "env": Param(str, default="staging", choices=["staging", "prod"]),
        "count": Param(int, default=1),
    }},
    phases=[phase("Tick", [shell(f"echo {{param('tag')}} {{param('env')}} >> ticks.log")])],
    schedule="{every}",
    schedule_params={values},
)
"""


def test_schedule_apply_refuses_values_that_do_not_fit_naming_each_op(
    make_project: MakeProject, chant: Chant, temporal_server: TemporalServer
) -> None:
    tag = uuid.uuid4().hex[:6]
    cases = {
        "missing": {},
        "unknown": {"tag": "v1", "tga": "v2"},
        "wrongtype": {"tag": "v1", "count": "3"},
        "notchoice": {"tag": "v1", "env": "qa"},
    }
    files = {"chant.toml": temporal_server.toml(f"q-{tag}")}
    for case, values in cases.items():
        files[f"ops/{case}.op.py"] = SCHEDULED.format(
            var="op", name=f"{case}-{tag}", every="every 1h", values=values
        )
    root = make_project(files)
    ran = chant("schedule", "apply", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    hint = "  hint: Op(schedule_params=…) gives its scheduled runs their values; its parameters: "
    hint += "tag (str, required), "
    hint += 'env (str, default "staging"), count (int, default 1)'
    assert ran.err == (
        "chant: error: 4 problems in the project:\n"
        f'ops/missing.op.py:3: op "missing-{tag}": schedule_params: missing required '
        'parameter "tag"\n'
        f"{hint}\n"
        f'ops/notchoice.op.py:3: op "notchoice-{tag}": schedule_params: parameter "env" '
        '"qa" is not one of "staging", "prod"\n'
        f"{hint}\n"
        f'ops/unknown.op.py:3: op "unknown-{tag}": schedule_params: unknown parameter "tga" '
        '(did you mean "tag"?)\n'
        f"{hint}\n"
        f'ops/wrongtype.op.py:3: op "wrongtype-{tag}": schedule_params: parameter "count" '
        'must be an integer, got "3"\n'
        f"{hint}\n"
    )
    listed = _json(chant("schedule", "list", "--json", cwd=root))
    assert [s for s in listed if s["op"].endswith(tag)] == []  # nothing was applied


def test_a_schedule_runs_with_its_values_and_apply_updates_it_when_they_change(
    make_project: MakeProject, temporal_server: TemporalServer
) -> None:
    name = f"sched-{uuid.uuid4().hex[:6]}"

    def write(values: dict[str, Any]) -> Path:
        text = SCHEDULED.format(var="op", name=name, every="every 2s", values=values)
        return make_project(
            {"chant.toml": temporal_server.toml(name), "ops/op.op.py": text}, folder=name
        )

    root = write({"tag": "v1"})
    sid = f"chant-{project_id(root)}-schedule-{name}"
    wid = workflow_id(root, name)
    worker = LongChant("worker", cwd=root, name="worker")
    try:
        worker.wait_stderr("polling task queue", 30)
        applied = chant_subprocess("schedule", "apply", cwd=root)
        assert (applied.code, applied.err) == (0, "")
        assert applied.out.splitlines()[0] == (
            f"created    {sid}  every 2s  → {wid} on task queue {name} "
            "with count=1 env=staging tag=v1"
        )
        until(lambda: "v1 staging" in lines(root / "ticks.log"), 30, "a scheduled run")

        listed = chant_subprocess("schedule", "list", cwd=root)
        assert listed.code == 0, listed.err
        head, *rows = listed.out.splitlines()
        assert head.split()[-1] == "PARAMS"
        (mine,) = [r for r in rows if r.startswith(f"{name} ")]
        assert mine.endswith("  count=1 env=staging tag=v1"), mine
        (doc,) = [s for s in _json(chant_subprocess("schedule", "list", "--json", cwd=root))]
        assert doc["params"] == {"tag": "v1", "env": "staging", "count": 1}

        rows_seen = _history(root, name, 1)
        closed = [r for r in rows_seen if r["status"] != "running"]
        assert closed[0]["params"] == {"tag": "v1", "env": "staging", "count": 1}

        again = chant_subprocess("schedule", "apply", cwd=root)
        assert again.out.startswith(f"unchanged  {sid}  "), again.out

        write({"tag": "v2", "env": "prod"})
        changed = chant_subprocess("schedule", "apply", cwd=root)
        assert (changed.code, changed.err) == (0, "")
        assert changed.out.splitlines()[0] == (
            f"updated    {sid}  every 2s  → {wid} on task queue {name} with count=1 env=prod tag=v2"
        )
        until(lambda: "v2 prod" in lines(root / "ticks.log"), 30, "a run with the new values")
    finally:
        chant_subprocess("schedule", "delete", name, cwd=root)
        worker.stop()
