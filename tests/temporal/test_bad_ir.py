"""The IR a workflow receives: bad input fails the run at once, too big is refused.

A malformed IR (started by hand, by another tool or an older chant) must fail the
workflow with a non-retryable ``InvalidOpError`` naming the problem, never leave it
RUNNING while Temporal retries its workflow task. An IR over Temporal's 2 MiB payload
limit is refused by ``chant run`` before it starts anything (exit 2).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from conftest import Ran
from temporal_procs import Chant
from temporal_server import TemporalServer, workflow_id

GOOD_IR: dict[str, Any] = {
    "schema_version": 1,
    "name": "bad-ir",
    "overview": "",
    "phases": [
        {
            "name": "P",
            "steps": [
                {
                    "kind": "activity",
                    "id": "p.1",
                    "fn": "shell",
                    "args": {"cmd": "true"},
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
}


def with_step(**changes: Any) -> dict[str, Any]:
    step = {**GOOD_IR["phases"][0]["steps"][0], **changes}
    return {**GOOD_IR, "phases": [{**GOOD_IR["phases"][0], "steps": [step]}]}


def with_retry(**changes: Any) -> dict[str, Any]:
    profile = GOOD_IR["phases"][0]["steps"][0]["profile"]
    return with_step(profile={**profile, "retry": {**profile["retry"], **changes}})


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("a string", "garbage", 'the input must be {"op": <the IR of chant build>}'),
    ("a list", [1, 2], 'the input must be {"op": <the IR of chant build>}'),
    ("no op key", {"ir": GOOD_IR}, 'the input must be {"op": <the IR of chant build>}'),
    ("phases not a list", {"op": {**GOOD_IR, "phases": "nope"}}, "op.phases: expected a list"),
    ("unknown key", {"op": {**GOOD_IR, "extra": 1}}, "op: unknown key(s) 'extra'"),
    (
        "negative max_attempts",
        {"op": with_retry(max_attempts=-5)},
        "profile retry max_attempts: must be 0 (unlimited) to 2147483647, got -5",
    ),
    (
        "NaN backoff",
        {"op": with_retry(backoff_coefficient=float("nan"))},
        "profile retry backoff_coefficient: must be from 1 to 100, got nan",
    ),
    (
        "a shell command that is a number",
        {"op": with_step(args={"cmd": 123})},
        'argument "cmd" must be a string, got int 123',
    ),
    ("a NUL byte", {"op": with_step(args={"cmd": "a\x00b"})}, "holds a NUL byte"),
    (
        "no profile",
        {"op": with_step(profile=None)},
        'step "p.1" has no profile',
    ),
]


async def _failure(server: TemporalServer, task_queue: str, arg: Any) -> tuple[str, str, float]:
    """Start chant's workflow with ``arg`` as its input; how it failed, and how fast."""
    client = await Client.connect(server.address, namespace=server.namespace)
    loop = asyncio.get_running_loop()
    started = loop.time()
    handle = await client.start_workflow(
        "ChantOp", arg, id=f"bad-ir-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    with pytest.raises(WorkflowFailureError) as err:
        await asyncio.wait_for(handle.result(), 30)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.non_retryable
    status = (await handle.describe()).status
    assert status is not None and status.name == "FAILED"
    return str(cause.type), cause.message, loop.time() - started


@pytest.fixture
def worker(make_project: Callable[..., Path], temporal_server: TemporalServer) -> Any:
    queue = f"bad-ir-{uuid.uuid4().hex[:6]}"
    root = make_project({"chant.toml": temporal_server.toml(queue)})
    proc = Chant("worker", cwd=root, name="worker")
    try:
        proc.wait_stderr("polling task queue", 30)
        yield queue
    finally:
        proc.stop()


def test_a_malformed_ir_fails_the_workflow_at_once_with_invalid_op_error(
    worker: str, temporal_server: TemporalServer
) -> None:
    async def all_cases() -> list[tuple[str, str, str, float]]:
        return [
            (what, *await _failure(temporal_server, worker, arg)) for what, arg, _ in BAD_INPUTS
        ]

    for (what, kind, message, seconds), (_, _, expected) in zip(
        asyncio.run(all_cases()), BAD_INPUTS, strict=True
    ):
        assert kind == "InvalidOpError", what
        assert message.startswith("the Op handed to this workflow is not valid IR: "), what
        assert expected in message, (what, message)
        assert seconds < 10, what


def test_a_workflow_started_without_input_or_with_a_non_json_payload_fails_at_once(
    worker: str, temporal_server: TemporalServer
) -> None:
    async def cases() -> list[tuple[str, str, float]]:
        binary = RawValue(Payload(metadata={"encoding": b"binary/plain"}, data=b"\xff\x00not json"))
        broken = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"{not json"))
        return [await _failure(temporal_server, worker, arg) for arg in (binary, broken)]

    for kind, message, seconds in asyncio.run(cases()):
        assert kind == "InvalidOpError"
        assert message.startswith("the Op handed to this workflow is not valid IR: ")
        assert seconds < 10


BIG = """
from chant import Op, phase, shell

big = Op(
    name="big-{tag}",
    phases=[phase("P", [shell("true", id=f"s{{i}}") for i in range(3)]),
            phase("Q", [shell("echo " + "x" * 1_000_000, id=f"q{{i}}") for i in range(3)])],
)
"""


def test_an_ir_over_temporals_payload_limit_is_refused_before_the_run_starts(
    make_project: Callable[..., Path],
    chant_proc: Callable[..., Ran],
    temporal_server: TemporalServer,
) -> None:
    tag = uuid.uuid4().hex[:6]
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"big-{tag}"),
            "ops/big.op.py": BIG.format(tag=tag),
        }
    )
    ran = chant_proc("run", f"big-{tag}", "--temporal", cwd=root, timeout=120)
    assert ran.code == 2, ran.err
    assert ran.err.startswith(f'chant: error: op "big-{tag}": its IR is 3,00')
    assert "over Temporal's limit of 2,097,152 bytes (2 MiB) for a workflow's input" in ran.err
    assert "hint: split it into smaller Ops" in ran.err
    assert "Traceback" not in ran.err
    assert ran.out == ""

    async def started() -> bool:
        client = await Client.connect(temporal_server.address, namespace=temporal_server.namespace)
        try:
            await client.get_workflow_handle(workflow_id(root, f"big-{tag}")).describe()
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND
            return False
        return True

    assert not asyncio.run(started())
