"""The walk itself (``chant.walk.Walker``), with a scripted executor: no activities, no
processes, no clock. Each test declares an Op, scripts how each step ends, and reads
the records and the event stream the walk produced.

Only ``Scripted._execute`` knows how the walk asks for a step; the rest is the walk's
public surface (``run``, ``interrupt``) and its output (``RunResult``, events).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chant import Op, activity, phase
from chant.events import Event, RunResult, StepStatus
from chant.ir import JSON
from chant.outcomes import StepOutcome
from chant.plan import resolve
from chant.planned import PlannedStep
from chant.walk import Walker

OK, FAILED, SKIPPED, CANCELLED = "ok", "failed", "skipped", "cancelled"


@dataclass
class Act:
    """How one scripted step ends: it waits for ``wait`` (if given), calls ``then`` (if
    given), then raises CancelledError (``cancel``), fails with ``error`` or returns
    ``result``."""

    result: JSON = None
    error: str | None = None
    wait: asyncio.Event | None = None
    then: Callable[[], Any] | None = None
    cancel: bool = False


@dataclass
class Scripted(Walker):
    """A walker whose steps do what ``script`` says (by step id; unscripted: ok)."""

    script: dict[str, Act] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    started: dict[str, asyncio.Event] = field(default_factory=dict)
    active: int = 0
    peak: int = 0

    def __post_init__(self) -> None:
        super().__init__(
            run_id="run-1",
            sinks=[self.events.append],
            clock=lambda: 0.0,
            now=lambda: "2026-01-01T00:00:00.000Z",
        )

    def began(self, step_id: str) -> asyncio.Event:
        """Set once step ``step_id`` has started executing."""
        return self.started.setdefault(step_id, asyncio.Event())

    async def _execute(self, step: PlannedStep) -> StepOutcome:
        self.executed.append(step.id)
        self.began(step.id).set()
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            act = self.script.get(step.id, Act())
            for _ in range(3):  # let siblings interleave
                await asyncio.sleep(0)
            if act.wait is not None:
                await act.wait.wait()
            if act.then is not None:
                act.then()
            if act.cancel:
                raise asyncio.CancelledError
            if act.error is not None:
                error = {"type": act.error, "message": f"{step.id} broke"}
                return StepOutcome(StepStatus.FAILED, 1, error=error)
            return StepOutcome(StepStatus.OK, 1, act.result)
        finally:
            self.active -= 1

    def walk(self, op: Op, during: Callable[[Scripted], Any] | None = None) -> RunResult:
        """Run ``op``; ``during`` (a coroutine function) runs beside the walk."""
        plan = resolve(op, profiles={}, activities={"x": "fast_idempotent"})

        async def main() -> RunResult:
            side = asyncio.ensure_future(during(self)) if during else None
            result = await self.run(plan)
            if side is not None:
                await side
            return result

        return asyncio.run(asyncio.wait_for(main(), 10))

    def stream(self) -> list[tuple[Any, ...]]:
        """The events, each as its type and what tells it apart."""
        shown = []
        for event in self.events:
            d = event.to_dict()
            keys = ("phase", "step", "status", "skipped", "reason")
            # A step's reason (null unless a condition skipped it) is shown when given.
            given = [k for k in keys if k in d and (k != "reason" or d[k] is not None)]
            shown.append((d["type"], *(d[k] for k in given)))
        return shown


def x(step_id: str) -> Any:
    return activity("x", id=step_id)


def statuses(result: RunResult) -> dict[str, tuple[str, bool]]:
    return {s.id: (s.status, s.compensation) for s in result.steps}


def wait_then(walker: Scripted, step_id: str, *actions: Callable[[], Any]) -> Any:
    """A ``during`` that waits for ``step_id`` to start, then does ``actions``."""

    async def during(_: Scripted) -> None:
        await walker.began(step_id).wait()
        for action in actions:
            action()

    return during


# -- sequential phases ---------------------------------------------------------------


def test_sequential_phases_run_their_steps_in_order_and_say_so() -> None:
    walker = Scripted(script={"a2": Act(result={"n": 2})})
    op = Op(name="seq", phases=[phase("A", [x("a1"), x("a2")]), phase("B", [x("b1")])])
    result = walker.walk(op)
    assert walker.executed == ["a1", "a2", "b1"]
    assert (result.ok, result.status, result.failed_step, result.error) == (True, OK, None, None)
    assert statuses(result) == {"a1": (OK, False), "a2": (OK, False), "b1": (OK, False)}
    assert [s.result for s in result.steps] == [None, {"n": 2}, None]
    assert walker.stream() == [
        ("run_started",),
        ("phase_started", "A", False),
        ("step_started", "A", "a1"),
        ("step_finished", "A", "a1", OK),
        ("step_started", "A", "a2"),
        ("step_finished", "A", "a2", OK),
        ("phase_finished", "A", OK),
        ("phase_started", "B", False),
        ("step_started", "B", "b1"),
        ("step_finished", "B", "b1", OK),
        ("phase_finished", "B", OK),
        ("run_finished", OK),
    ]
    assert [e.seq for e in walker.events] == list(range(1, len(walker.events) + 1))


def test_a_failure_skips_the_rest_of_its_phase_and_every_later_phase() -> None:
    walker = Scripted(script={"a1": Act(error="Boom")})
    op = Op(name="f", phases=[phase("A", [x("a1"), x("a2")]), phase("B", [x("b1")])])
    result = walker.walk(op)
    assert walker.executed == ["a1"]
    assert (result.ok, result.status, result.failed_step) == (False, FAILED, "a1")
    assert result.error == {"type": "Boom", "message": "a1 broke"}
    assert statuses(result) == {
        "a1": (FAILED, False),
        "a2": (SKIPPED, False),
        "b1": (SKIPPED, False),
    }
    assert walker.stream()[3:] == [
        ("step_finished", "A", "a1", FAILED),
        ("step_finished", "A", "a2", SKIPPED),
        ("phase_finished", "A", FAILED),
        ("phase_started", "B", True),
        ("step_finished", "B", "b1", SKIPPED),
        ("phase_finished", "B", SKIPPED),
        ("run_finished", FAILED),
    ]


# -- on_failure ------------------------------------------------------------------------


def test_on_failure_runs_in_order_and_a_failing_compensation_step_does_not_stop_the_next() -> None:
    walker = Scripted(script={"a1": Act(error="Boom"), "c1": Act(error="Worse")})
    op = Op(
        name="comp",
        phases=[phase("A", [x("a1")]), phase("B", [x("b1")])],
        on_failure=[phase("Undo", [x("c1"), x("c2")]), phase("Tell", [x("c3")])],
    )
    result = walker.walk(op)
    assert walker.executed == ["a1", "c1", "c2", "c3"]
    # The run failed for its own step, not for the compensation's.
    assert (result.status, result.failed_step) == (FAILED, "a1")
    assert result.error == {"type": "Boom", "message": "a1 broke"}
    assert statuses(result) == {
        "a1": (FAILED, False),
        "b1": (SKIPPED, False),
        "c1": (FAILED, True),
        "c2": (OK, True),
        "c3": (OK, True),
    }
    assert walker.stream()[7:] == [
        ("phase_finished", "B", SKIPPED),
        ("compensation_started", "step a1 failed"),
        ("phase_started", "Undo", False),
        ("step_started", "Undo", "c1"),
        ("step_finished", "Undo", "c1", FAILED),
        ("step_started", "Undo", "c2"),
        ("step_finished", "Undo", "c2", OK),
        ("phase_finished", "Undo", FAILED),
        ("phase_started", "Tell", False),
        ("step_started", "Tell", "c3"),
        ("step_finished", "Tell", "c3", OK),
        ("phase_finished", "Tell", OK),
        ("run_finished", FAILED),
    ]


def test_on_failure_does_not_run_when_every_step_succeeds() -> None:
    walker = Scripted()
    op = Op(name="fine", phases=[phase("A", [x("a1")])], on_failure=[phase("Undo", [x("c1")])])
    result = walker.walk(op)
    assert walker.executed == ["a1"]
    assert result.status == OK
    assert [s.id for s in result.steps] == ["a1"]
    assert "compensation_started" not in [e[0] for e in walker.stream()]


# -- parallel phases -------------------------------------------------------------------


def test_fail_fast_cancels_the_running_siblings_of_a_failed_step() -> None:
    never = asyncio.Event()
    walker = Scripted(
        script={"p1": Act(wait=never), "p2": Act(wait=never), "p3": Act(error="Boom")}
    )
    op = Op(
        name="ff",
        phases=[phase("P", [x("p1"), x("p2"), x("p3")], parallel=True, fail_fast=True)],
    )
    result = walker.walk(op)
    assert sorted(walker.executed) == ["p1", "p2", "p3"]
    assert (result.status, result.failed_step) == (FAILED, "p3")
    assert statuses(result) == {
        "p1": (CANCELLED, False),
        "p2": (CANCELLED, False),
        "p3": (FAILED, False),
    }
    cancelled = {"type": "Cancelled", "message": "cancelled: a sibling failed (fail_fast)"}
    assert [s.error for s in result.steps[:2]] == [cancelled, cancelled]
    assert walker.stream()[-2:] == [("phase_finished", "P", FAILED), ("run_finished", FAILED)]


def test_without_fail_fast_the_siblings_of_a_failed_step_run_to_their_end() -> None:
    release = asyncio.Event()
    walker = Scripted(script={"p1": Act(wait=release), "p2": Act(error="Boom", then=release.set)})
    op = Op(name="slow", phases=[phase("P", [x("p1"), x("p2")], parallel=True)])
    result = walker.walk(op)
    assert (result.status, result.failed_step) == (FAILED, "p2")
    assert statuses(result) == {"p1": (OK, False), "p2": (FAILED, False)}


@pytest.mark.parametrize(("bound", "peak"), [(1, 1), (2, 2), (3, 3), (None, 7)])
def test_max_concurrency_bounds_how_many_steps_run_at_once(bound: int | None, peak: int) -> None:
    walker = Scripted()
    steps = [x(f"p{i}") for i in range(7)]
    op = Op(name="wide", phases=[phase("P", steps, parallel=True, max_concurrency=bound)])
    result = walker.walk(op)
    assert walker.peak == peak
    assert sorted(walker.executed) == [f"p{i}" for i in range(7)]
    assert [s.status for s in result.steps] == [OK] * 7


# -- interruption ----------------------------------------------------------------------


def interrupted_op() -> Op:
    return Op(
        name="stop",
        phases=[phase("A", [x("a1"), x("a2")]), phase("B", [x("b1")])],
        on_failure=[phase("Undo", [x("c1"), x("c2")]), phase("Tell", [x("c3")])],
    )


def test_an_interrupt_during_a_step_cancels_it_skips_the_rest_and_runs_compensation() -> None:
    never = asyncio.Event()
    walker = Scripted(script={"a1": Act(wait=never)})
    skipped_comp: list[bool] = []
    result = walker.walk(
        interrupted_op(), wait_then(walker, "a1", lambda: skipped_comp.append(walker.interrupt()))
    )
    assert skipped_comp == [False]
    assert walker.executed == ["a1", "c1", "c2", "c3"]
    assert (result.ok, result.status, result.failed_step) == (False, "interrupted", None)
    assert result.error == {"type": "Interrupted", "message": "interrupted"}
    assert statuses(result) == {
        "a1": (CANCELLED, False),
        "a2": (SKIPPED, False),
        "b1": (SKIPPED, False),
        "c1": (OK, True),
        "c2": (OK, True),
        "c3": (OK, True),
    }
    assert result.steps[0].error == {"type": "Cancelled", "message": "interrupted"}
    assert ("compensation_started", "interrupted") in walker.stream()
    assert walker.stream()[-1] == ("run_finished", "interrupted")


def test_an_interrupt_skips_the_steps_that_have_not_started() -> None:
    never = asyncio.Event()
    walker = Scripted(script={"p1": Act(wait=never)})
    op = Op(
        name="queue",
        phases=[phase("P", [x("p1"), x("p2"), x("p3")], parallel=True, max_concurrency=1)],
    )
    result = walker.walk(op, wait_then(walker, "p1", walker.interrupt))
    assert walker.executed == ["p1"]
    assert result.status == "interrupted"
    assert statuses(result) == {
        "p1": (CANCELLED, False),
        "p2": (SKIPPED, False),
        "p3": (SKIPPED, False),
    }
    assert [e for e in walker.stream() if e[0] == "step_started"] == [("step_started", "P", "p1")]


def test_an_interrupt_before_the_run_skips_every_phase_and_still_compensates() -> None:
    walker = Scripted()
    assert walker.interrupt() is False
    result = walker.walk(interrupted_op())
    assert walker.executed == ["c1", "c2", "c3"]
    assert result.status == "interrupted"
    assert [s.status for s in result.steps if not s.compensation] == [SKIPPED] * 3


def test_a_second_interrupt_cancels_compensation_and_skips_its_rest() -> None:
    never = asyncio.Event()
    walker = Scripted(script={"a1": Act(wait=never), "c1": Act(wait=never)})
    answers: list[bool] = []

    async def during(w: Scripted) -> None:
        await w.began("a1").wait()
        answers.append(w.interrupt())
        await w.began("c1").wait()
        answers.append(w.interrupt())

    result = walker.walk(interrupted_op(), during)
    assert answers == [False, True]
    assert walker.executed == ["a1", "c1"]
    assert result.status == "interrupted"
    assert statuses(result) == {
        "a1": (CANCELLED, False),
        "a2": (SKIPPED, False),
        "b1": (SKIPPED, False),
        "c1": (CANCELLED, True),
        "c2": (SKIPPED, True),
        "c3": (SKIPPED, True),
    }
    assert walker.stream()[-4:] == [
        ("phase_started", "Tell", True),
        ("step_finished", "Tell", "c3", SKIPPED),
        ("phase_finished", "Tell", SKIPPED),
        ("run_finished", "interrupted"),
    ]


def test_a_first_interrupt_during_compensation_stops_it() -> None:
    never = asyncio.Event()
    walker = Scripted(script={"a1": Act(error="Boom"), "c1": Act(wait=never)})
    answers: list[bool] = []
    result = walker.walk(
        interrupted_op(), wait_then(walker, "c1", lambda: answers.append(walker.interrupt()))
    )
    assert answers == [True]
    assert walker.executed == ["a1", "c1"]
    assert statuses(result)["c1"] == (CANCELLED, True)
    assert statuses(result)["c2"] == (SKIPPED, True)
    assert result.status == "interrupted"


def test_a_step_cancelled_from_inside_its_executor_is_recorded_as_cancelled() -> None:
    walker = Scripted(script={"a1": Act(cancel=True)})
    op = Op(name="inner", phases=[phase("A", [x("a1")]), phase("B", [x("b1")])])
    with pytest.raises(asyncio.CancelledError):
        walker.walk(op)
    assert walker.executed == ["a1"]
    assert walker.stream()[-1] == ("step_finished", "A", "a1", CANCELLED)
