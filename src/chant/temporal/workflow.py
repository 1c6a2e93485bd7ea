"""The one interpreter workflow: it runs any Op IR handed to it.

There is no per-Op code. The input is the resolved Op as a plain dict (a dataclass
input once lost the IR's ``from`` key), validated with the strict ``Op.from_dict``.
The walk through phases is ``chant.walk.Walker``, the very code the local executor
uses; this module says how a step runs here:

- an activity step is a Temporal activity called by name, with its profile mapped to
  a ``RetryPolicy``, a start-to-close timeout and a heartbeat timeout;
- a gate waits for its signal, up to its timeout, and fails the Op when none comes.

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
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutType,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from chant.errors import ErrorType, IRError
    from chant.events import Event, EventType, Sink, StepStatus
    from chant.ir import Op
    from chant.plan import check_ir
    from chant.planned import GatePlan, Plan, PlannedStep, RetryPlan, Timing
    from chant.walk import StepOutcome, Walker, succeeded

WORKFLOW_NAME = "ChantOp"
NO_INPUT = RawValue(Payload())
"""What the workflow gets when started without input: it fails as invalid IR."""
OP_KEY = SearchAttributeKey.for_keyword("ChantOp")
OUTCOMES_KEY = SearchAttributeKey.for_keyword_list("ChantOutcomes")

KILL_GRACE = 2.0
"""Seconds a worker gives a command between SIGTERM and SIGKILL."""
TIMEOUT_SLACK = KILL_GRACE + 5.0
"""The worker stops an attempt at the profile's timeout; the server's start-to-close
timeout is later by this much, so it only fires for a worker that stopped answering."""
LIVENESS = 10.0
"""Heartbeat timeout for profiles without one. Workers heartbeat every second while a
step runs, so a dead worker's step is retried elsewhere after this long instead of
after its whole start-to-close timeout."""
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

    def cut(error: Any) -> Any:
        if not isinstance(error, dict) or len(str(error.get("message", ""))) <= ERROR_CUT:
            return error
        return {**error, "message": str(error["message"])[:ERROR_CUT] + "… [cut]"}

    return {
        **record,
        "error": cut(record.get("error")),
        "steps": [{**s, "error": cut(s.get("error"))} for s in record["steps"]],
    }


def retry_policy(retry: RetryPlan) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=retry.initial_interval),
        backoff_coefficient=retry.backoff_coefficient,
        maximum_interval=(
            timedelta(seconds=retry.maximum_interval) if retry.maximum_interval_given else None
        ),
        maximum_attempts=retry.max_attempts,
        non_retryable_error_types=list(retry.non_retryable_error_types),
    )


def heartbeat_timeout(timing: Timing) -> float:
    if timing.heartbeat_timeout:
        return max(timing.heartbeat_timeout, 3.0)
    return LIVENESS


def activity_id(step_id: str) -> str:
    """The Temporal activity id of a step: its chant step id, readable in Temporal's UI.
    Changing this breaks the replay of runs in flight (tests/temporal/test_replay.py)."""
    return step_id


def _iso(now: Any) -> str:
    return str(now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")


class Gates:
    """The gates of one run: which wait for their signal, and the approvals received
    (``chant signal``). The walker waits here; ``chant status`` reads it."""

    def __init__(self) -> None:
        self.approvals: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, dict[str, Any]] = {}

    def approve(self, data: dict[str, Any]) -> None:
        name = str(data.get("signal", ""))
        self.approvals[name] = {
            "signal": name,
            "approver": data.get("approver"),
            "note": data.get("note"),
            "at": _iso(workflow.now()),
        }

    async def wait(self, step_id: str, gate: GatePlan) -> dict[str, Any] | None:
        """The approval of ``gate``'s signal, or None when none came in time."""
        self.waiting[gate.signal] = {
            "step": step_id,
            "signal": gate.signal,
            "description": gate.description,
            "since": _iso(workflow.now()),
            "timeout": gate.timeout_text,
        }
        try:
            await workflow.wait_condition(
                lambda: gate.signal in self.approvals, timeout=gate.timeout
            )
        except TimeoutError:
            return None
        finally:
            self.waiting.pop(gate.signal, None)
        return self.approvals[gate.signal]


def activity_error(exc: ActivityError, timing: Timing, seen: int) -> tuple[int, dict[str, str]]:
    """The attempts and ``{"type", "message"}`` of a step whose activity failed for good."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else {}
        if not isinstance(details, dict):
            details = {}
        error = details.get("error") or {"type": cause.type, "message": cause.message}
        return int(details.get("attempt", seen)), error
    if isinstance(cause, TemporalTimeoutError):
        if cause.type == TimeoutType.HEARTBEAT:
            return seen, {
                "type": ErrorType.HEARTBEAT_TIMEOUT,
                "message": f"attempt {seen}: the worker stopped answering "
                f"(no heartbeat for {heartbeat_timeout(timing):g}s)",
            }
        return seen, {
            "type": ErrorType.ACTIVITY_TIMEOUT,
            "message": f"attempt {seen}: no result from the worker in time "
            f"({cause.type.name if cause.type else 'timeout'})",
        }
    return seen, {"type": type(cause or exc).__name__, "message": str(cause or exc)}


class TemporalWalker(Walker):
    mode = "temporal"

    def __init__(
        self,
        plan: Plan,
        *,
        sink: Sink,
        gates: Gates,
        on_outcome: Callable[[str, Any], None],
    ) -> None:
        super().__init__(
            run_id=workflow.info().run_id,
            sinks=[sink],
            clock=workflow.time,
            now=lambda: _iso(workflow.now()),
        )
        self.plan = plan
        self.gates = gates
        self.on_outcome = on_outcome
        self.attempts: dict[str, int] = {}
        """Attempts that failed and were retried, per step (from ``chant_retrying``)."""

    async def _execute(self, step: PlannedStep) -> StepOutcome:
        if step.gate is not None:
            return await self._gate(step, step.gate)
        timing = step.timing
        assert timing is not None, "a planned step is a gate or has a timing"
        payload: dict[str, Any] = {
            "op": self.plan.name,
            "step": step.id,
            "args": dict(step.shown_args),
            "profile": timing.declared.to_dict(),
        }
        if self.plan.secrets:  # absent otherwise: the input of runs recorded before stays
            # Every secret of the Op, by name: its worker masks them all, not only the
            # step's own (values never pass through the workflow).
            payload["secrets"] = list(self.plan.secrets)
        self.attempting(step.id, 1)  # as locally: the attempt under way counts
        try:
            done: dict[str, Any] = await workflow.execute_activity(
                step.fn,
                payload,
                activity_id=activity_id(step.id),
                start_to_close_timeout=timedelta(seconds=timing.timeout + TIMEOUT_SLACK),
                heartbeat_timeout=timedelta(seconds=heartbeat_timeout(timing)),
                retry_policy=retry_policy(timing.retry),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                result_type=dict,
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError() from exc
            if isinstance(exc.cause, ApplicationError) and exc.cause.details:
                details = exc.cause.details[0]
                self.output(step.id, details.get("output", []) if isinstance(details, dict) else [])
            attempts, error = activity_error(exc, timing, self.attempts.get(step.id, 0) + 1)
            return StepOutcome(StepStatus.FAILED, attempts, error=error)
        self.output(step.id, done.get("output", []))
        outcome = succeeded(step, done.get("result"), int(done.get("attempt", 1)))
        if outcome.status == StepStatus.FAILED:  # the record keeps what the step returned
            return replace(outcome, result=done.get("result"))
        if outcome.outcome is not None:
            self.on_outcome(str(outcome.outcome["name"]), outcome.outcome["value"])
        return outcome

    async def _gate(self, step: PlannedStep, gate: GatePlan) -> StepOutcome:
        self.attempting(step.id, 1)
        self._emit(
            EventType.STEP_OUTPUT,
            step=step.id,
            stream="log",
            line=f'waiting for signal "{gate.signal}" (up to {gate.timeout_text}): '
            f"chant signal {self.plan.name} {gate.signal} --approver NAME",
        )
        approval = await self.gates.wait(step.id, gate)
        if approval is None:
            return StepOutcome(
                StepStatus.FAILED,
                1,
                error={
                    "type": ErrorType.GATE_TIMEOUT,
                    "message": f'gate "{step.id}" got no "{gate.signal}" signal '
                    f"within {gate.timeout_text}",
                },
            )
        who = approval.get("approver") or "(unnamed)"  # as `chant status` shows it
        note = f": {approval['note']}" if approval.get("note") else ""
        self._emit(
            EventType.STEP_OUTPUT,
            step=step.id,
            stream="log",
            line=f'"{gate.signal}" approved by {who}{note}',
        )
        return StepOutcome(StepStatus.OK, 1, result=approval)

    def output(self, step_id: str, lines: list[Any]) -> None:
        for item in lines:
            if isinstance(item, list) and len(item) == 2:
                self._emit(
                    EventType.STEP_OUTPUT, step=step_id, stream=str(item[0]), line=str(item[1])
                )

    def retrying(self, data: dict[str, Any]) -> None:
        step_id = str(data.get("step"))
        if not self.running(step_id):
            return
        self.output(step_id, data.get("output", []))
        attempt = int(data.get("attempt", 0))
        self.attempts[step_id] = max(self.attempts.get(step_id, 0), attempt)
        self.attempting(step_id, attempt + 1)
        self._emit(
            EventType.STEP_RETRYING,
            step=step_id,
            attempt=attempt,
            max_attempts=data.get("max_attempts"),
            error=data.get("error"),
            delay_ms=data.get("delay_ms"),
        )

    def live_output(self, data: dict[str, Any]) -> None:
        step_id = str(data.get("step"))
        if self.running(step_id):
            self.output(step_id, data.get("output", []))


OUTCOMES_LIMIT = 2048
"""Bytes the ``ChantOutcomes`` value may take as Temporal stores it (JSON, non-ASCII
escaped): the server's ``limit.searchAttributesSizeOfValue`` default. Over it, the
server terminates the run."""


def outcome_entries(outcomes: dict[str, Any]) -> list[str]:
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


@workflow.defn(name=WORKFLOW_NAME)
class ChantOpWorkflow:
    """Runs the Op given as ``{"op": <IR dict>}``; see the module's docstring."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.gates = Gates()
        self.outcomes: dict[str, Any] = {}
        self.result: dict[str, Any] | None = None
        self.walker: TemporalWalker | None = None

    def record(self, event: Event) -> None:
        self.events.append(event.to_dict())

    def outcome(self, name: str, value: Any) -> None:
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
                type="ChantWorkflowError",
                non_retryable=True,
            ) from exc

    async def _run(self, data: RawValue) -> dict[str, Any]:
        try:
            decoded = workflow.payload_converter().from_payload(data.payload)
            if not isinstance(decoded, dict) or set(decoded) != {"op"}:
                raise IRError('the input must be {"op": <the IR of chant build>}')
            op = Op.from_dict(decoded["op"])
        except Exception as exc:  # anything the input can be: JSON, not JSON, no input
            raise ApplicationError(
                f"the Op handed to this workflow is not valid IR: {exc}",
                type="InvalidOpError",
                non_retryable=True,
            ) from exc
        problems = check_ir(op)
        if problems:
            raise ApplicationError(
                "the Op handed to this workflow is not valid IR: "
                + "; ".join(p.message for p in problems),
                type="InvalidOpError",
                non_retryable=True,
            )
        self.walker = walker = TemporalWalker(
            Plan.of(op), sink=self.record, gates=self.gates, on_outcome=self.outcome
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
                type="OpFailed",
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
        """Where the run is: phase, steps so far, waiting gates, approvals, outcomes."""
        phase = None
        steps: dict[str, dict[str, Any]] = {}
        for e in self.events:
            kind = e["type"]
            if kind == "phase_started" and not e.get("skipped"):
                phase = e["phase"]
            elif kind == "step_started":
                steps[e["step"]] = {
                    "step": e["step"],
                    "fn": e["fn"],
                    "status": "running",
                    "attempts": 1,
                    "phase": e["phase"],
                }
            elif kind == "step_retrying" and e["step"] in steps:
                steps[e["step"]]["attempts"] = e["attempt"] + 1
            elif kind == "step_finished":
                steps[e["step"]] = {
                    "step": e["step"],
                    "fn": e["fn"],
                    "status": e["status"],
                    "attempts": e["attempts"],
                    "phase": e["phase"],
                    "error": e.get("error"),
                }
        return {
            "phase": phase,
            "steps": list(steps.values()),
            "waiting": list(self.gates.waiting.values()),
            "approvals": list(self.gates.approvals.values()),
            "outcomes": dict(self.outcomes),
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
