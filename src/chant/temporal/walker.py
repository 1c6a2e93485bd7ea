"""How a step runs on Temporal: ``TemporalWalker`` is the shared walk
(``chant.walk.Walker``) with each activity step scheduled as a Temporal activity and
each gate waiting on the run's ``Gates``.

- an activity step is a Temporal activity called by name, with its timing mapped to
  a ``RetryPolicy``, a start-to-close timeout and a heartbeat timeout;
- a gate waits for its signal, up to its timeout, and fails the Op when none comes.

Workflow code: deterministic, no I/O (Temporal's sandbox checks it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
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

from chant.errors import ErrorType
from chant.events import EventType, Sink, StepStatus
from chant.ir import JSON
from chant.outcomes import StepOutcome, succeeded
from chant.planned import GatePlan, Plan, PlannedStep, RetryPlan, Timing
from chant.walk import Walker

KILL_GRACE = 2.0
"""Seconds a worker gives a command between SIGTERM and SIGKILL."""
TIMEOUT_SLACK = KILL_GRACE + 5.0
"""The worker stops an attempt at the profile's timeout; the server's start-to-close
timeout is later by this much, so it only fires for a worker that stopped answering."""
LIVENESS = 10.0
"""Heartbeat timeout for profiles without one. Workers heartbeat every second while a
step runs, so a dead worker's step is retried elsewhere after this long instead of
after its whole start-to-close timeout."""


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


def iso(now: datetime) -> str:
    """``2026-01-31T12:00:00.123Z`` (UTC, milliseconds cut, not rounded). Not
    ``strftime``: in the sandbox each call of it imports ``time`` through the sandbox's
    importer, which doubled the cost of an event."""
    return now.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _int(value: JSON, default: int) -> int:
    """A count from a worker's signal or result (JSON): ``default`` when absent."""
    return int(value) if isinstance(value, int | float) else default


class Gates:
    """The gates of one run: which wait for their signal, and the approvals received
    (``chant signal``). The walker waits here; ``chant status`` reads it."""

    def __init__(self) -> None:
        self.approvals: dict[str, dict[str, JSON]] = {}
        self.waiting: dict[str, dict[str, JSON]] = {}

    def approve(self, data: Mapping[str, JSON]) -> None:
        name = str(data.get("signal", ""))
        self.approvals[name] = {
            "signal": name,
            "approver": data.get("approver"),
            "note": data.get("note"),
            "at": iso(workflow.now()),
        }

    async def wait(self, step_id: str, gate: GatePlan) -> dict[str, JSON] | None:
        """The approval of ``gate``'s signal, or None when none came in time."""
        self.waiting[gate.signal] = {
            "step": step_id,
            "signal": gate.signal,
            "description": gate.description,
            "since": iso(workflow.now()),
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
        on_outcome: Callable[[str, JSON], None],
        params: Mapping[str, JSON] | None = None,
    ) -> None:
        super().__init__(
            run_id=workflow.info().run_id,
            sinks=[sink],
            clock=workflow.time,
            now=lambda: iso(workflow.now()),
            params=params,
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
        payload: dict[str, JSON] = {
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
            done: dict[str, JSON] = await workflow.execute_activity(
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
        outcome = succeeded(step, done.get("result"), _int(done.get("attempt"), 1))
        if outcome.status == StepStatus.FAILED:  # the record keeps what the step returned
            return outcome._replace(result=done.get("result"))
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

    def output(self, step_id: str, lines: JSON) -> None:
        # Each run of lines of one stream as one batch of step_output events.
        stream, run = "", list[str]()
        for item in lines if isinstance(lines, list) else ():
            if isinstance(item, list) and len(item) == 2:
                if str(item[0]) != stream:
                    self._emit.output_lines(step_id, stream, run)
                    stream, run = str(item[0]), []
                run.append(str(item[1]))
        self._emit.output_lines(step_id, stream, run)

    def retrying(self, data: Mapping[str, JSON]) -> None:
        step_id = str(data.get("step"))
        if not self.running(step_id):
            return
        self.output(step_id, data.get("output", []))
        attempt = _int(data.get("attempt"), 0)
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

    def live_output(self, data: Mapping[str, JSON]) -> None:
        step_id = str(data.get("step"))
        if self.running(step_id):
            self.output(step_id, data.get("output", []))
