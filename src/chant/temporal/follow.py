"""Following a run on Temporal: its events as they come, then its record.

The run's events come from the workflow's ``events_after`` query and go to the same
sinks (renderers) as a local run's, so the output is the same. A closed workflow's
last events and record come with its result (or its ``OpFailed`` failure's details).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from chant.errors import ErrorType
from chant.events import Event, RunResult, Sink
from chant.temporal.workflow import MAX_EVENTS_PER_QUERY

POLL = 0.1
"""Seconds between two reads of a running workflow's events while it is quiet."""
BUSY_POLL = 0.25
"""Seconds after a read that brought events. Each read is a query that the worker answers
in the workflow's sandbox (2–5 ms of CPU, worker and client together, as much as half a
short step); while steps follow each other quickly, reading less often brings the same
events in fewer, larger batches. A quiet run (a step running) is still read every
``POLL``, so its next events show as soon."""


@dataclass
class Followed:
    """How following a run ended."""

    result: RunResult | None
    detached: bool = False
    status: str | None = None
    """Temporal's status of the workflow when it closed without a run record."""


async def follow(
    handle: WorkflowHandle[Any, Any],
    sinks: list[Sink],
    *,
    stop: asyncio.Event,
    say: Callable[[str], None],
    task_queue: str,
    worker: str = "chant worker",
) -> Followed:
    """Render the run's events as they come, until it finishes or ``stop`` is set.

    While the run is open its events are read with the ``events_after`` query, at most
    every ``POLL`` seconds (``BUSY_POLL`` while events keep coming). When it closes, the
    rest of the events and the run record come with its result (or the ``OpFailed``
    failure's details), so a closed workflow is not replayed just to answer one more
    query."""
    shown = _Shown(sinks)
    warned = False
    closed = asyncio.ensure_future(_closed(handle))
    emit, seen = shown.emit, lambda: shown.seen
    try:
        while not stop.is_set():
            if closed.done():
                return await _finish(handle, closed.result(), emit, seen)
            try:
                events = await _events_after(handle, shown.seen, stop, closed)
            except RPCError:
                if closed.done():
                    continue
                if not warned:
                    warned = True
                    say(
                        f"chant: waiting for a worker on task queue {task_queue} "
                        f"(none answered); start one with `{worker}`"
                    )
                await _wait_any(stop, closed, 1.0)
                continue
            if events is None:  # stopped, or closed: the result has the rest
                continue
            if emit(events):
                # The workflow closes right after its last event; its result has the record.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(closed), 10)
                if closed.done():
                    return await _finish(handle, closed.result(), emit, seen)
                record = await handle.query("run_result", rpc_timeout=timedelta(seconds=10))
                return Followed(RunResult.from_dict(record))
            if len(events) < MAX_EVENTS_PER_QUERY:
                await _wait_any(stop, closed, BUSY_POLL if events else POLL)
        return Followed(None, detached=True)
    finally:
        closed.cancel()


@dataclass
class _Shown:
    """The events of a run shown so far, to the sinks."""

    sinks: list[Sink]
    seen: int = 0
    """The ``seq`` of the last event shown."""
    finished: bool = False
    """Whether the ``run_finished`` event has been shown."""

    def emit(self, batch: list[dict[str, Any]]) -> bool:
        """Show the events of ``batch`` not shown yet; whether the run has finished."""
        for data in batch:
            event = Event.from_dict(data)
            if event.seq <= self.seen:
                continue
            self.seen = event.seq
            for sink in self.sinks:
                sink(event)
            self.finished = self.finished or event.type == "run_finished"
        return self.finished


async def _events_after(
    handle: WorkflowHandle[Any, Any],
    seen: int,
    stop: asyncio.Event,
    closed: asyncio.Future[Any],
) -> list[dict[str, Any]] | None:
    """The run's events after ``seen``, or None when ``stop`` is set or the run closes
    first: Ctrl-C must not wait for a query that no worker is there to answer.

    The server refuses the query once the run has closed (``NOT_OPEN``) instead of handing
    it to a worker, which would replay the whole closed run to answer it: its result
    has the rest."""
    query = asyncio.ensure_future(
        handle.query(
            "events_after",
            seen,
            rpc_timeout=timedelta(seconds=3),
            reject_condition=QueryRejectCondition.NOT_OPEN,
        )
    )
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({query, stopping, closed}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not query.done():
        query.cancel()
        with contextlib.suppress(BaseException):
            await query
        return None
    try:
        events: list[dict[str, Any]] = query.result()
    except WorkflowQueryRejectedError:  # closed: wait for its result, which has the rest
        await _wait_any(stop, closed, 10.0)
        return None
    return events


async def _finish(
    handle: WorkflowHandle[Any, Any],
    ended: tuple[str, dict[str, Any] | None],
    emit: Callable[[list[dict[str, Any]]], bool],
    seen: Callable[[], int],
) -> Followed:
    """The run closed: show the events not shown yet and return its record.

    The record in the result (or the ``OpFailed`` details) is the run's, whatever its
    size; events are only a view of it. A finished run's events come from the result
    when they are small, and otherwise from the workflow, unless all of them (up to
    ``run_finished``) are shown already."""
    status, payload = ended
    record = payload.get("run") if payload is not None else None
    events = payload.get("events") if payload is not None else None
    finished = emit(events) if isinstance(events, list) else emit([])
    if not finished:
        # Events not in the result (a cancelled run, or too many to carry): ask the
        # workflow, which a worker answers by replaying its history.
        with contextlib.suppress(RPCError):
            while True:
                batch = await handle.query(
                    "events_after", seen(), rpc_timeout=timedelta(seconds=30)
                )
                finished = emit(batch)
                if len(batch) < MAX_EVENTS_PER_QUERY:
                    break
    if isinstance(record, dict):
        return Followed(RunResult.from_dict(record))
    if not finished:
        # Closed without a run record: terminated, timed out or failed outright.
        return Followed(None, status=status)
    record = await handle.query("run_result", rpc_timeout=timedelta(seconds=30))
    return Followed(RunResult.from_dict(record))


def op_failed_details(exc: WorkflowFailureError) -> Any:
    """What a workflow that failed with ``OpFailed`` carries in its details (the run
    record and events), or None for any other failure."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == ErrorType.OP_FAILED and cause.details:
        return cause.details[0]
    return None


async def _closed(handle: WorkflowHandle[Any, Any]) -> tuple[str, dict[str, Any] | None]:
    """Waits until the workflow closes; its status's name and what it returned (the run
    record and events), if anything."""
    try:
        payload = await handle.result()
        return "completed", payload if isinstance(payload, dict) else None
    except WorkflowFailureError as exc:
        details = op_failed_details(exc)
        if details is not None:
            return "failed", details if isinstance(details, dict) else None
    except RPCError:
        pass
    description = await handle.describe()
    status = description.status or WorkflowExecutionStatus.RUNNING
    return status.name.lower(), None


async def _wait_any(stop: asyncio.Event, closed: asyncio.Future[Any], seconds: float) -> None:
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({stopping, closed}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
