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
    from chant.events import Event
    from chant.ir import ActivityStep, GateStep, IRError, Op, Profile, Retry, Step, _args_to_json
    from chant.plan import check_ir
    from chant.profiles import parse_duration
    from chant.secrets import secret_names
    from chant.walk import Record, Walker, pick

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


def retry_policy(retry: Retry) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=parse_duration(retry.initial_interval)),
        backoff_coefficient=retry.backoff_coefficient,
        maximum_interval=(
            timedelta(seconds=parse_duration(retry.maximum_interval))
            if retry.maximum_interval
            else None
        ),
        maximum_attempts=retry.max_attempts,
        non_retryable_error_types=list(retry.non_retryable_error_types),
    )


def heartbeat_timeout(profile: Profile) -> float:
    if profile.heartbeat_timeout:
        return max(parse_duration(profile.heartbeat_timeout), 3.0)
    return LIVENESS


def activity_id(step_id: str) -> str:
    """The Temporal activity id of a step: its chant step id, readable in Temporal's UI.
    Changing this breaks the replay of runs in flight (tests/temporal/test_replay.py)."""
    return step_id


def _iso(now: Any) -> str:
    return str(now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")


class TemporalWalker(Walker):
    mode = "temporal"

    def __init__(self, flow: ChantOpWorkflow, op: Op) -> None:
        super().__init__(
            run_id=workflow.info().run_id,
            sinks=[flow.record],
            clock=workflow.time,
            now=lambda: _iso(workflow.now()),
        )
        self.flow = flow
        self.op = op
        self.attempts: dict[str, int] = {}
        self.secrets = secret_names(op)
        """Every secret the Op declares, by name: each activity is told them all, so its
        worker masks them all, not only the step's own (values never pass through here)."""

    async def _execute(self, step: Step, rec: Record, compensation: bool) -> None:
        if isinstance(step, GateStep):
            await self._gate(step, rec)
            return
        assert isinstance(step, ActivityStep) and isinstance(step.profile, Profile)
        profile = step.profile
        step_id = str(step.id)
        timeout = parse_duration(profile.timeout)
        payload = {
            "op": self.op.name,
            "step": step_id,
            "args": _args_to_json(step.args),
            "profile": profile.to_dict(),
        }
        if self.secrets:  # absent otherwise: the input of runs recorded before stays as it was
            payload["secrets"] = self.secrets
        rec.attempts = 1  # as locally: the attempt under way counts
        try:
            done: dict[str, Any] = await workflow.execute_activity(
                step.fn,
                payload,
                activity_id=activity_id(step_id),
                start_to_close_timeout=timedelta(seconds=timeout + TIMEOUT_SLACK),
                heartbeat_timeout=timedelta(seconds=heartbeat_timeout(profile)),
                retry_policy=retry_policy(profile.retry),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                result_type=dict,
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError() from exc
            self._failed(step, rec, exc)
            return
        self.output(step_id, done.get("output", []))
        rec.attempts = int(done.get("attempt", 1))
        rec.result = done.get("result")
        if step.outcome is not None:
            try:
                value = pick(rec.result, step.outcome.path, step.outcome.name)
            except Exception as exc:
                rec.status, rec.error = "failed", {"type": "OutcomeError", "message": str(exc)}
                return
            rec.outcome = {"name": step.outcome.name, "value": value}
            self.flow.outcome(step.outcome.name, value)
        rec.status = "ok"

    def _failed(self, step: ActivityStep, rec: Record, exc: ActivityError) -> None:
        step_id = str(step.id)
        cause = exc.cause
        profile = step.profile if isinstance(step.profile, Profile) else Profile()
        rec.status = "failed"
        seen = self.attempts.get(step_id, 0) + 1
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details else {}
            if not isinstance(details, dict):
                details = {}
            self.output(step_id, details.get("output", []))
            rec.attempts = int(details.get("attempt", seen))
            rec.error = details.get("error") or {"type": cause.type, "message": cause.message}
        elif isinstance(cause, TemporalTimeoutError):
            rec.attempts = seen
            if cause.type == TimeoutType.HEARTBEAT:
                rec.error = {
                    "type": "HeartbeatTimeoutError",
                    "message": f"attempt {seen}: the worker stopped answering "
                    f"(no heartbeat for {heartbeat_timeout(profile):g}s)",
                }
            else:
                rec.error = {
                    "type": "ActivityTimeoutError",
                    "message": f"attempt {seen}: no result from the worker in time "
                    f"({cause.type.name if cause.type else 'timeout'})",
                }
        else:
            rec.attempts = seen
            rec.error = {"type": type(cause or exc).__name__, "message": str(cause or exc)}

    async def _gate(self, step: GateStep, rec: Record) -> None:
        step_id = str(step.id)
        rec.attempts = 1
        timeout = parse_duration(step.timeout)
        self._emit(
            "step_output",
            step=step_id,
            stream="log",
            line=f'waiting for signal "{step.signal}" (up to {step.timeout}): '
            f"chant signal {self.op.name} {step.signal} --approver NAME",
        )
        self.flow.waiting[step.signal] = {
            "step": step_id,
            "signal": step.signal,
            "description": step.description,
            "since": _iso(workflow.now()),
            "timeout": step.timeout,
        }
        try:
            await workflow.wait_condition(
                lambda: step.signal in self.flow.approvals, timeout=timeout
            )
        except TimeoutError:
            rec.status = "failed"
            rec.error = {
                "type": "GateTimeoutError",
                "message": f'gate "{step_id}" got no "{step.signal}" signal within {step.timeout}',
            }
            return
        finally:
            self.flow.waiting.pop(step.signal, None)
        approval = self.flow.approvals[step.signal]
        who = approval.get("approver") or "(unnamed)"  # as `chant status` shows it
        note = f": {approval['note']}" if approval.get("note") else ""
        self._emit(
            "step_output",
            step=step_id,
            stream="log",
            line=f'"{step.signal}" approved by {who}{note}',
        )
        rec.result = approval
        rec.status = "ok"

    def output(self, step_id: str, lines: list[Any]) -> None:
        for item in lines:
            if isinstance(item, list) and len(item) == 2:
                self._emit("step_output", step=step_id, stream=str(item[0]), line=str(item[1]))

    def retrying(self, data: dict[str, Any]) -> None:
        step_id = str(data.get("step"))
        rec = self._records.get(step_id)
        if rec is None or rec.status != "running":
            return
        self.output(step_id, data.get("output", []))
        attempt = int(data.get("attempt", 0))
        self.attempts[step_id] = max(self.attempts.get(step_id, 0), attempt)
        rec.attempts = attempt + 1
        self._emit(
            "step_retrying",
            step=step_id,
            attempt=attempt,
            max_attempts=data.get("max_attempts"),
            error=data.get("error"),
            delay_ms=data.get("delay_ms"),
        )

    def live_output(self, data: dict[str, Any]) -> None:
        step_id = str(data.get("step"))
        rec = self._records.get(step_id)
        if rec is not None and rec.status == "running":
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
        self.approvals: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, dict[str, Any]] = {}
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
        self.walker = walker = TemporalWalker(self, op)
        walk = asyncio.ensure_future(walker.run(op))
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
            "waiting": list(self.waiting.values()),
            "approvals": list(self.approvals.values()),
            "outcomes": dict(self.outcomes),
            "finished": self.result is not None,
        }

    @workflow.signal
    def gate(self, data: dict[str, Any]) -> None:
        """``chant signal``: ``{"signal": NAME, "approver": …, "note": …}``."""
        name = str(data.get("signal", ""))
        self.approvals[name] = {
            "signal": name,
            "approver": data.get("approver"),
            "note": data.get("note"),
            "at": _iso(workflow.now()),
        }

    @workflow.signal
    def chant_retrying(self, data: dict[str, Any]) -> None:
        if self.walker is not None:
            self.walker.retrying(data)

    @workflow.signal
    def chant_output(self, data: dict[str, Any]) -> None:
        if self.walker is not None:
            self.walker.live_output(data)
