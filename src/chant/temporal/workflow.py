"""The one interpreter workflow: it runs any Op IR handed to it.

There is no per-Op code. The input is ``{"op": IR, "params": {NAME: value}}``: the
resolved Op as a plain dict (a dataclass input once lost the IR's ``from`` key),
validated with the strict ``Op.from_dict``, and the values of its parameters
(``params`` is absent for an Op without any, and in the input of runs recorded before
Ops had them). The values are checked against the Op's declaration, its defaults fill
in the rest, and a run given values that do not fit fails at once (``InvalidOpError``).
The walk through phases is ``chant.walk.Walker``, the very code the local executor
uses: it resolves each step's references and conditions from the parameters and the
results recorded so far, so a replay resolves them to the same values. How a step runs
here is ``chant.temporal.walker.TemporalWalker``.

The run's events (the same event model as local mode) are kept in the workflow and
read with the ``events`` query; ``chant run --temporal`` renders them. Workers add two
signals of their own: ``chant_output`` (a step's output lines while it runs) and
``chant_retrying`` (an attempt failed and Temporal will retry it).

Any exception escaping this code fails the run with an ``ApplicationError`` rather
than leaving it retrying its workflow task forever; every run also has an execution
timeout (``runner.execution_timeout``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, SearchAttributeKey
from temporalio.exceptions import (
    ApplicationError,
)

# check_ir's checks of data flow (imported on first use elsewhere) are loaded with the
# workflow: the sandbox passes them through, where a later import would warn.
import chant.flowcheck  # noqa: F401
from chant.errors import ErrorType, IRError
from chant.events import Event, EventType, StepStatus
from chant.ir import JSON, Op
from chant.params import ParamError, check
from chant.plan import check_ir
from chant.planned import Plan
from chant.temporal.walker import Gates, TemporalWalker

WORKFLOW_NAME = "ChantOp"
NO_INPUT = RawValue(Payload())
"""What the workflow gets when started without input: it fails as invalid IR."""
OP_KEY = SearchAttributeKey.for_keyword("ChantOp")
OUTCOMES_KEY = SearchAttributeKey.for_keyword_list("ChantOutcomes")

MAX_EVENTS_PER_QUERY = 500
EVENTS_IN_RESULT = 512 * 1024
"""Bytes of JSON of events a run's result may carry (the payload limit is 2 MiB)."""
RECORD_LIMIT = 1024 * 1024
"""Bytes of JSON the run record may take; beyond, step results are left out of it, then
step arguments (the IR has them: ``chant run`` puts them back), then long errors are cut.
The record and the events a result carries then stay under Temporal's 2 MiB payload
limit, so a run that completes always has its record."""
LEFT_OUT = {"$left_out": "the run record is limited to 1 MiB"}
"""Stands for a step's result or arguments left out of a big run record."""
ERROR_CUT = 300
"""Characters of an error message kept when even that is needed to fit the record."""


def _bounded_record(record: dict[str, Any]) -> dict[str, Any]:
    def fits(r: dict[str, Any]) -> bool:
        return len(json.dumps(r, default=str)) <= RECORD_LIMIT

    if fits(record):
        return record
    record = {**record, "steps": [{**s, "result": LEFT_OUT} for s in record["steps"]]}
    if fits(record):
        return record
    record = {**record, "steps": [{**s, "args": LEFT_OUT} for s in record["steps"]]}
    if fits(record):
        return record

    def cut(error: JSON) -> JSON:
        if not isinstance(error, dict) or len(str(error.get("message", ""))) <= ERROR_CUT:
            return error
        return {**error, "message": str(error["message"])[:ERROR_CUT] + "… [cut]"}

    return {
        **record,
        "error": cut(record.get("error")),
        "steps": [{**s, "error": cut(s.get("error"))} for s in record["steps"]],
    }


OUTCOMES_LIMIT = 2048
"""Bytes the ``ChantOutcomes`` value may take as Temporal stores it (JSON, non-ASCII
escaped): the server's ``limit.searchAttributesSizeOfValue`` default. Over it, the
server terminates the run."""


def outcome_entries(outcomes: Mapping[str, JSON]) -> list[str]:
    """The ``Name=value`` entries of ``ChantOutcomes``: strings as they are, anything
    else as JSON (``true``, ``3``, ``["a"]``). While they take more than
    ``OUTCOMES_LIMIT``, the longest value is cut to half its length and ends in ``…``;
    entries that still do not fit are left out (the run's record keeps every outcome
    in full)."""
    values = {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in outcomes.items()
    }

    def size() -> int:
        return len(json.dumps([f"{k}={v}" for k, v in values.items()], separators=(",", ":")))

    while size() > OUTCOMES_LIMIT:
        longest = max(values, key=lambda k: len(json.dumps(values[k])))
        text = values[longest]
        if len(text) <= 1:
            break
        values[longest] = text[: len(text) // 2 - 1] + "…"
    entries: list[str] = []
    for k, v in values.items():
        if len(json.dumps([*entries, f"{k}={v}"], separators=(",", ":"))) > OUTCOMES_LIMIT:
            break
        entries.append(f"{k}={v}")
    return entries


def workflow_input(op: Op, params: Mapping[str, JSON] | None = None) -> dict[str, JSON]:
    """This workflow's input: ``{"op": IR}``, with ``"params"`` when there are values
    (so the input of an Op without parameters is what it always was)."""
    data: dict[str, JSON] = {"op": op.to_dict()}
    if params:
        data["params"] = dict(params)
    return data


def _read_input(data: RawValue) -> tuple[Op, Any]:
    """The Op and the parameter values (as given, unchecked) of the workflow's input;
    ``InvalidOpError`` (an ``ApplicationError``) for input that is not ``{"op": IR,
    "params": {…}}``."""
    try:
        decoded = workflow.payload_converter().from_payload(data.payload)
        if not isinstance(decoded, dict) or set(decoded) not in ({"op"}, {"op", "params"}):
            raise IRError(
                'the input must be {"op": <the IR of chant build>} (with "params": '
                "{NAME: value} for an Op with parameters)"
            )
        op = Op.from_dict(decoded["op"])
    except Exception as exc:  # anything the input can be: JSON, not JSON, no input
        raise ApplicationError(
            f"the Op handed to this workflow is not valid IR: {exc}",
            type=ErrorType.INVALID_OP.value,
            non_retryable=True,
        ) from exc
    return op, decoded.get("params", {})


@workflow.defn(name=WORKFLOW_NAME)
class ChantOpWorkflow:
    """Runs the Op given as ``{"op": <IR dict>, "params": {…}}``; see the module's
    docstring."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.params: dict[str, JSON] = {}
        """The run's parameter values (checked, defaults filled in)."""
        self.gates = Gates()
        self.outcomes: dict[str, JSON] = {}
        self.result: dict[str, Any] | None = None
        self.walker: TemporalWalker | None = None

    def record(self, event: Event) -> None:
        self.events.append(event.to_dict())

    def outcome(self, name: str, value: JSON) -> None:
        self.outcomes[name] = value
        workflow.upsert_search_attributes([OUTCOMES_KEY.value_set(outcome_entries(self.outcomes))])

    @workflow.run
    async def run(self, data: RawValue = NO_INPUT) -> dict[str, Any]:
        # RawValue: the input is decoded in _run, so that input which is not the IR
        # (not JSON, not an object) fails the run at once instead of failing its
        # workflow task, which Temporal would retry forever.
        try:
            return await self._run(data)
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as exc:
            # A bug or a sandbox violation would otherwise fail the workflow *task*, which
            # Temporal retries forever. (Nondeterminism is not caught here on purpose: it
            # is not raised in this code, and a fixed worker can still resume the run.)
            raise ApplicationError(
                f"chant's workflow failed: {type(exc).__name__}: {exc}",
                type=ErrorType.WORKFLOW.value,
                non_retryable=True,
            ) from exc

    async def _run(self, data: RawValue) -> dict[str, Any]:
        op, given = _read_input(data)
        problems = check_ir(op)
        if problems:
            raise ApplicationError(
                "the Op handed to this workflow is not valid IR: "
                + "; ".join(p.message for p in problems),
                type=ErrorType.INVALID_OP.value,
                non_retryable=True,
            )
        try:  # as `chant run` checks them: the values, complete, or every problem
            self.params = check(op, given)
        except ParamError as exc:
            raise ApplicationError(
                f'the parameter values handed to this workflow do not fit Op "{op.name}": '
                + "; ".join(exc.problems),
                type=ErrorType.INVALID_OP.value,
                non_retryable=True,
            ) from None
        self.walker = walker = TemporalWalker(
            Plan.of(op),
            sink=self.record,
            gates=self.gates,
            on_outcome=self.outcome,
            params=self.params,
        )
        walk = asyncio.ensure_future(walker.run(walker.plan))
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(walk)
                break
            except asyncio.CancelledError:
                # `chant cancel`: stop the running steps, then compensate (like Ctrl-C).
                cancelled = True
                walker.interrupt()
        self.result = _bounded_record(result.to_dict())
        if cancelled:
            raise asyncio.CancelledError()
        outcome = {"run": self.result, "events": self._events_if_small()}
        if not result.ok:
            error = result.error or {}
            raise ApplicationError(
                f"step {result.failed_step} failed: {error.get('type')}: {error.get('message')}",
                outcome,
                type=ErrorType.OP_FAILED.value,
                non_retryable=True,
            )
        return outcome

    def _events_if_small(self) -> list[dict[str, Any]] | None:
        """The run's events, to return with its record, unless they are big: a follower
        then has the last of them without querying (replaying) the closed workflow."""
        return self.events if len(json.dumps(self.events)) <= EVENTS_IN_RESULT else None

    @workflow.query
    def events_after(self, seq: int) -> list[dict[str, Any]]:
        """Events with a ``seq`` above ``seq``, oldest first (at most 500)."""
        return self.events[seq : seq + MAX_EVENTS_PER_QUERY]

    @workflow.query
    def run_result(self) -> dict[str, Any] | None:
        """The run record (``chant run --json``'s document) once the run has finished."""
        return self.result

    @workflow.query
    def status(self) -> dict[str, Any]:
        """Where the run is: phase, steps so far, waiting gates, approvals, outcomes, and
        the parameter values it runs with."""
        phase = None
        steps: dict[str, dict[str, Any]] = {}
        for e in self.events:
            kind = e["type"]
            if kind == EventType.PHASE_STARTED and not e.get("skipped"):
                phase = e["phase"]
            elif kind == EventType.STEP_STARTED:
                steps[e["step"]] = {
                    "step": e["step"],
                    "fn": e["fn"],
                    "status": StepStatus.RUNNING,
                    "attempts": 1,
                    "phase": e["phase"],
                }
            elif kind == EventType.STEP_RETRYING and e["step"] in steps:
                steps[e["step"]]["attempts"] = e["attempt"] + 1
            elif kind == EventType.STEP_FINISHED:
                steps[e["step"]] = {
                    "step": e["step"],
                    "fn": e["fn"],
                    "status": e["status"],
                    "attempts": e["attempts"],
                    "phase": e["phase"],
                    "error": e.get("error"),
                }
                if e.get("reason"):  # skipped: its condition (or its phase's) was false
                    steps[e["step"]]["reason"] = e["reason"]
        return {
            "phase": phase,
            "steps": list(steps.values()),
            "waiting": list(self.gates.waiting.values()),
            "approvals": list(self.gates.approvals.values()),
            "outcomes": dict(self.outcomes),
            "params": dict(self.params),
            "finished": self.result is not None,
        }

    @workflow.signal
    def gate(self, data: dict[str, Any]) -> None:
        """``chant signal``: ``{"signal": NAME, "approver": …, "note": …}``."""
        self.gates.approve(data)

    @workflow.signal
    def chant_retrying(self, data: dict[str, Any]) -> None:
        if self.walker is not None:
            self.walker.retrying(data)

    @workflow.signal
    def chant_output(self, data: dict[str, Any]) -> None:
        if self.walker is not None:
            self.walker.live_output(data)
