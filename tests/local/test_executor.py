"""The local executor's semantics, driven through a registry of fake activities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from chant import Op, Outcome, Profile, Retry, activity, phase, secret
from chant.activities.registry import ActivityContext, ActivityDef, Registry
from chant.errors import ActivityError, Problem
from chant.events import Event, RunResult
from chant.local.executor import LocalExecutor
from chant.plan import resolve_op


def run(coro: Coroutine[Any, Any, RunResult], timeout: float = 20) -> RunResult:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def resolved(op: Op, registry: Registry) -> Op:
    problems: list[Problem] = []
    names = {n: registry.get(n).default_profile for n in registry.names()}  # type: ignore[union-attr]
    out = resolve_op(op, profiles={}, activities=names, problems=problems)
    assert problems == []
    return out


class Fakes:
    """Fake activities that record calls; ``sleeps`` records injected backoff waits."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sleeps: list[float] = []
        self.failures_left: dict[str, int] = {}
        self.running = 0
        self.max_running = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def registry(self, **extra: Callable[..., Any]) -> Registry:
        fakes = self

        async def ok(name: str = "", value: Any = None) -> Any:
            fakes.calls.append(name)
            return value if value is not None else {"name": name}

        async def flaky(name: str, failures: int, error_type: str = "Boom") -> Any:
            fakes.calls.append(name)
            left = fakes.failures_left.setdefault(name, failures)
            if left:
                fakes.failures_left[name] = left - 1
                raise ActivityError(f"{name} failed ({left} left)", type=error_type)
            return {"name": name}

        async def hang(name: str = "") -> Any:
            fakes.calls.append(name)
            await asyncio.Event().wait()

        async def hold(name: str, seconds: float) -> Any:
            fakes.calls.append(name)
            fakes.running += 1
            fakes.max_running = max(fakes.max_running, fakes.running)
            try:
                await asyncio.sleep(seconds)
            finally:
                fakes.running -= 1
            return {"name": name}

        defs = [
            ActivityDef(name="ok", fn=ok),
            ActivityDef(name="flaky", fn=flaky),
            ActivityDef(name="hang", fn=hang),
            ActivityDef(name="hold", fn=hold),
        ]
        defs += [ActivityDef(name=n, fn=f) for n, f in extra.items()]
        return Registry(defs)


def execute(
    op: Op, fakes: Fakes, registry: Registry | None = None, **kw: Any
) -> tuple[RunResult, list[Event]]:
    registry = registry or fakes.registry()
    events: list[Event] = []
    executor = LocalExecutor(registry, sinks=[events.append], sleep=fakes.sleep, **kw)
    result = run(executor.run(resolved(op, registry)))
    return result, events


def statuses(result: RunResult) -> dict[str, str]:
    return {s.id: s.status for s in result.steps}


QUICK = Profile(timeout="5s", retry=Retry(max_attempts=3, initial_interval="1s"))


def test_sequential_steps_run_in_order_and_succeed() -> None:
    fakes = Fakes()
    op = Op(
        name="seq",
        phases=[
            phase("A", [activity("ok", name="a1"), activity("ok", name="a2")]),
            phase("B", [activity("ok", name="b1")]),
        ],
    )
    result, _ = execute(op, fakes)
    assert result.ok and result.status == "ok"
    assert fakes.calls == ["a1", "a2", "b1"]
    assert statuses(result) == {"a.1": "ok", "a.2": "ok", "b.1": "ok"}
    assert [s.attempts for s in result.steps] == [1, 1, 1]


def test_retry_until_success_with_the_profile_backoff() -> None:
    fakes = Fakes()
    op = Op(name="r", phases=[phase("A", [activity("flaky", name="f", failures=2)])])
    result, events = execute(op, fakes)
    step = result.steps[0]
    assert (step.status, step.attempts) == ("ok", 3)
    # fast_idempotent: first retry after 5s, then x2.
    assert fakes.sleeps == [5.0, 10.0]
    retrying = [e.data for e in events if e.type == "step_retrying"]
    assert [(r["attempt"], r["delay_ms"]) for r in retrying] == [(1, 5000), (2, 10000)]
    assert retrying[0]["error"] == {"type": "Boom", "message": "f failed (2 left)"}


def test_backoff_delays_follow_temporals_formula_with_a_ceiling() -> None:
    fakes = Fakes()
    retry = Retry(
        max_attempts=6, initial_interval="1s", backoff_coefficient=3, maximum_interval="20s"
    )
    op = Op(
        name="b",
        phases=[
            phase(
                "A",
                [activity("flaky", name="f", failures=9, profile=Profile(retry=retry))],
            )
        ],
    )
    result, _ = execute(op, fakes)
    assert fakes.sleeps == [1.0, 3.0, 9.0, 20.0, 20.0]
    assert result.steps[0].attempts == 6
    assert result.steps[0].status == "failed"


def test_default_maximum_interval_is_100_times_the_initial_interval() -> None:
    fakes = Fakes()
    retry = Retry(max_attempts=10, initial_interval="1s", backoff_coefficient=10)
    op = Op(
        name="b",
        phases=[
            phase("A", [activity("flaky", name="f", failures=9, profile=Profile(retry=retry))])
        ],
    )
    execute(op, fakes)
    assert fakes.sleeps == [1.0, 10.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]


def test_max_attempts_zero_retries_without_limit() -> None:
    fakes = Fakes()
    retry = Retry(max_attempts=0, initial_interval="1s")
    op = Op(
        name="u",
        phases=[
            phase("A", [activity("flaky", name="f", failures=12, profile=Profile(retry=retry))])
        ],
    )
    result, _ = execute(op, fakes)
    assert (result.steps[0].status, result.steps[0].attempts) == ("ok", 13)


def test_a_non_retryable_error_type_fails_after_one_attempt() -> None:
    fakes = Fakes()
    retry = Retry(max_attempts=5, non_retryable_error_types=["Fatal"])
    op = Op(
        name="n",
        phases=[
            phase(
                "A",
                [
                    activity(
                        "flaky",
                        name="f",
                        failures=3,
                        error_type="Fatal",
                        profile=Profile(retry=retry),
                    )
                ],
            )
        ],
    )
    result, _ = execute(op, fakes)
    step = result.steps[0]
    assert (step.status, step.attempts, fakes.sleeps) == ("failed", 1, [])
    assert step.error == {"type": "Fatal", "message": "f failed (3 left)"}


def test_an_error_marked_non_retryable_fails_after_one_attempt() -> None:
    async def refuse() -> None:
        raise ActivityError("no way", non_retryable=True)

    fakes = Fakes()
    op = Op(name="n", phases=[phase("A", [activity("refuse")])])
    result, _ = execute(op, fakes, fakes.registry(refuse=refuse))
    assert (result.steps[0].status, result.steps[0].attempts) == ("failed", 1)


def test_retries_exhausted_skip_the_rest_and_run_compensation() -> None:
    fakes = Fakes()
    op = Op(
        name="x",
        phases=[
            phase(
                "A",
                [
                    activity("flaky", name="f", failures=5, profile=QUICK),
                    activity("ok", name="after-in-phase"),
                ],
            ),
            phase("B", [activity("ok", name="later")]),
        ],
        on_failure=[phase("Undo", [activity("ok", name="undo")])],
    )
    result, events = execute(op, fakes)
    assert result.status == "failed" and not result.ok
    assert result.failed_step == "a.1"
    assert statuses(result) == {"a.1": "failed", "a.2": "skipped", "b.1": "skipped", "undo.1": "ok"}
    assert fakes.calls == ["f", "f", "f", "undo"]
    assert result.error == {"type": "Boom", "message": "f failed (3 left)"}
    comp = [e for e in events if e.type == "compensation_started"]
    assert comp[0].data == {"reason": "step a.1 failed"}


def test_compensation_runs_in_declared_order_and_best_effort() -> None:
    fakes = Fakes()
    op = Op(
        name="c",
        phases=[
            phase(
                "A",
                [activity("flaky", name="f", failures=1, error_type="X", profile="policy_check")],
            )
        ],
        on_failure=[
            phase(
                "First",
                [
                    activity("flaky", name="u1", failures=9, profile="policy_check"),
                    activity("ok", name="u2"),
                ],
            ),
            phase("Second", [activity("ok", name="u3")]),
            phase("Third", [activity("ok", name="u4")]),
        ],
    )
    result, _ = execute(op, fakes)
    assert fakes.calls == ["f", "u1", "u2", "u3", "u4"]
    assert statuses(result) == {
        "a.1": "failed",
        "first.1": "failed",
        "first.2": "ok",
        "second.1": "ok",
        "third.1": "ok",
    }
    assert [s.compensation for s in result.steps] == [False, True, True, True, True]


def test_on_failure_does_not_run_when_the_op_succeeds() -> None:
    fakes = Fakes()
    op = Op(
        name="s",
        phases=[phase("A", [activity("ok", name="a")])],
        on_failure=[phase("Undo", [activity("ok", name="undo")])],
    )
    result, events = execute(op, fakes)
    assert fakes.calls == ["a"]
    assert [s.id for s in result.steps] == ["a.1"]
    assert "compensation_started" not in [e.type for e in events]


def test_parallel_steps_overlap() -> None:
    fakes = Fakes()

    async def meet(ctx: ActivityContext, name: str) -> str:
        # Each step waits until the other has started: only overlap lets both finish.
        arrived.append(name)
        if len(arrived) == 2:
            ready.set()
        await ready.wait()
        return name

    arrived: list[str] = []
    ready = asyncio.Event()
    op = Op(
        name="p",
        phases=[
            phase("P", [activity("meet", name="x"), activity("meet", name="y")], parallel=True)
        ],
    )
    result, _ = execute(op, fakes, fakes.registry(meet=meet))
    assert result.ok and sorted(arrived) == ["x", "y"]


def test_max_concurrency_bounds_the_steps_running_at_once() -> None:
    fakes = Fakes()
    steps = [activity("hold", name=f"h{i}", seconds=0.05) for i in range(6)]
    op = Op(name="m", phases=[phase("P", steps, parallel=True, max_concurrency=2)])
    result, _ = execute(op, fakes)
    assert result.ok and fakes.max_running == 2


def test_without_fail_fast_parallel_siblings_finish() -> None:
    fakes = Fakes()
    op = Op(
        name="p",
        phases=[
            phase(
                "P",
                [
                    activity("flaky", name="bad", failures=9, profile="policy_check"),
                    activity("hold", name="slow", seconds=0.2),
                ],
                parallel=True,
            ),
            phase("Next", [activity("ok", name="next")]),
        ],
    )
    result, _ = execute(op, fakes)
    assert statuses(result) == {"p.1": "failed", "p.2": "ok", "next.1": "skipped"}


def test_fail_fast_cancels_running_siblings() -> None:
    fakes = Fakes()
    op = Op(
        name="p",
        phases=[
            phase(
                "P",
                [
                    activity("hang", name="h1"),
                    activity("flaky", name="bad", failures=9, profile="policy_check"),
                    activity("hang", name="h2"),
                ],
                parallel=True,
                fail_fast=True,
            )
        ],
    )
    result, _ = execute(op, fakes)
    assert statuses(result) == {"p.1": "cancelled", "p.2": "failed", "p.3": "cancelled"}
    cancelled = result.steps[0]
    assert cancelled.error == {
        "type": "Cancelled",
        "message": "cancelled: a sibling failed (fail_fast)",
    }
    assert result.failed_step == "p.2"


def test_fail_fast_skips_steps_still_waiting_for_a_slot() -> None:
    fakes = Fakes()
    op = Op(
        name="p",
        phases=[
            phase(
                "P",
                [
                    activity("flaky", name="bad", failures=9, profile="policy_check"),
                    activity("hang", name="h"),
                    activity("ok", name="queued"),
                ],
                parallel=True,
                fail_fast=True,
                max_concurrency=2,
            )
        ],
    )
    result, _ = execute(op, fakes)
    assert statuses(result) == {"p.1": "failed", "p.2": "cancelled", "p.3": "skipped"}
    assert "queued" not in fakes.calls


@pytest.mark.parametrize(
    ("path", "value"),
    [(None, {"a": {"b": [10, 20]}, "s": "x"}), ("s", "x"), ("a.b", [10, 20]), ("a.b.1", 20)],
)
def test_outcome_dot_paths_pick_from_the_result(path: str | None, value: Any) -> None:
    fakes = Fakes()
    result_value = {"a": {"b": [10, 20]}, "s": "x"}
    op = Op(
        name="o",
        phases=[phase("A", [activity("ok", value=result_value, outcome=Outcome("Out", path))])],
    )
    result, events = execute(op, fakes)
    assert result.steps[0].outcome == {"name": "Out", "value": value}
    assert result.outcomes == {"Out": value}
    finished = next(e for e in events if e.type == "step_finished")
    assert finished.data["outcome"] == {"name": "Out", "value": value}


def test_outcome_given_as_a_string_takes_the_whole_result() -> None:
    fakes = Fakes()
    op = Op(name="o", phases=[phase("A", [activity("ok", value=[1, 2], outcome="All")])])
    result, _ = execute(op, fakes)
    assert result.outcomes == {"All": [1, 2]}


def test_a_missing_outcome_path_fails_the_step_without_retrying() -> None:
    fakes = Fakes()
    op = Op(
        name="o",
        phases=[phase("A", [activity("ok", value={"a": 1}, outcome=Outcome("Out", "a.b"))])],
    )
    result, _ = execute(op, fakes)
    step = result.steps[0]
    assert (step.status, step.attempts) == ("failed", 1)
    assert step.error == {
        "type": "OutcomeError",
        "message": 'outcome "Out": the result has no "a.b" (no "b" there)',
    }


def test_an_attempt_past_its_timeout_is_stopped_and_retried() -> None:
    fakes = Fakes()
    profile = Profile(timeout="50ms", retry=Retry(max_attempts=2, initial_interval="1s"))
    op = Op(name="t", phases=[phase("A", [activity("hang", name="h", profile=profile)])])
    result, _ = execute(op, fakes)
    step = result.steps[0]
    assert (step.status, step.attempts, fakes.calls) == ("failed", 2, ["h", "h"])
    assert step.error == {
        "type": "ActivityTimeoutError",
        "message": "attempt 2 timed out after 50ms (start-to-close timeout of profile inline)",
    }


def test_a_silent_attempt_fails_its_heartbeat_timeout() -> None:
    async def silent(ctx: ActivityContext) -> None:
        await asyncio.sleep(30)

    fakes = Fakes()
    profile = Profile(timeout="30s", heartbeat_timeout="100ms", retry=Retry(max_attempts=1))
    op = Op(name="h", phases=[phase("A", [activity("silent", profile=profile)])])
    result, _ = execute(op, fakes, fakes.registry(silent=silent))
    assert result.steps[0].error == {
        "type": "HeartbeatTimeoutError",
        "message": "attempt 1 sent no heartbeat for 100ms",
    }


def test_a_heartbeating_attempt_outlives_its_heartbeat_timeout() -> None:
    async def beating(ctx: ActivityContext) -> str:
        for _ in range(8):
            await asyncio.sleep(0.05)
            ctx.heartbeat({"progress": 1})
        return "done"

    fakes = Fakes()
    profile = Profile(timeout="30s", heartbeat_timeout="150ms", retry=Retry(max_attempts=1))
    op = Op(name="h", phases=[phase("A", [activity("beating", profile=profile)])])
    result, _ = execute(op, fakes, fakes.registry(beating=beating))
    assert (result.steps[0].status, result.steps[0].result) == ("ok", "done")


def test_a_plain_function_activity_runs_in_a_thread() -> None:
    def blocking(n: int) -> int:
        return n * 2

    fakes = Fakes()
    op = Op(name="s", phases=[phase("A", [activity("blocking", n=21, outcome="N")])])
    result, _ = execute(op, fakes, fakes.registry(blocking=blocking))
    assert result.outcomes == {"N": 42}


def test_log_lines_become_step_output_events() -> None:
    async def chatty(ctx: ActivityContext) -> None:
        ctx.log("working")

    fakes = Fakes()
    op = Op(name="l", phases=[phase("A", [activity("chatty")])])
    _, events = execute(op, fakes, fakes.registry(chatty=chatty))
    out = [e.data for e in events if e.type == "step_output"]
    assert out == [{"step": "a.1", "stream": "log", "line": "working"}]


def test_interrupt_stops_the_running_step_skips_the_rest_and_compensates() -> None:
    fakes = Fakes()
    registry = fakes.registry()
    events: list[Event] = []
    executor = LocalExecutor(registry, sinks=[events.append], sleep=fakes.sleep)

    def on_event(event: Event) -> None:
        events.append(event)
        if event.type == "step_started" and event.data["step"] == "a.1":
            asyncio.get_running_loop().call_soon(executor.interrupt)

    executor.sinks = (on_event,)
    op = Op(
        name="i",
        phases=[
            phase("A", [activity("hang", name="h"), activity("ok", name="a2")]),
            phase("B", [activity("ok", name="b")]),
        ],
        on_failure=[phase("Undo", [activity("ok", name="undo")])],
    )
    result = run(executor.run(resolved(op, registry)))
    assert result.status == "interrupted" and not result.ok
    assert statuses(result) == {
        "a.1": "cancelled",
        "a.2": "skipped",
        "b.1": "skipped",
        "undo.1": "ok",
    }
    assert result.steps[0].error == {"type": "Cancelled", "message": "interrupted"}
    assert [e.data["reason"] for e in events if e.type == "compensation_started"] == ["interrupted"]
    assert fakes.calls == ["h", "undo"]


def test_a_second_interrupt_abandons_compensation() -> None:
    fakes = Fakes()
    registry = fakes.registry()
    executor = LocalExecutor(registry, sleep=fakes.sleep)

    def on_event(event: Event) -> None:
        if event.type == "step_started":
            asyncio.get_running_loop().call_soon(executor.interrupt)

    executor.sinks = (on_event,)
    op = Op(
        name="i",
        phases=[phase("A", [activity("hang", name="h")])],
        on_failure=[
            phase("Undo", [activity("hang", name="undo")]),
            phase("Undo2", [activity("ok", name="undo2")]),
        ],
    )
    result = run(executor.run(resolved(op, registry)))
    assert result.status == "interrupted"
    assert statuses(result) == {"a.1": "cancelled", "undo.1": "cancelled", "undo2.1": "skipped"}
    assert fakes.calls == ["h", "undo"]


def test_interrupt_during_a_backoff_stops_further_retries() -> None:
    fakes = Fakes()
    registry = fakes.registry()
    executor = LocalExecutor(registry)

    def on_event(event: Event) -> None:
        if event.type == "step_retrying":
            asyncio.get_running_loop().call_soon(executor.interrupt)

    executor.sinks = (on_event,)
    op = Op(name="i", phases=[phase("A", [activity("flaky", name="f", failures=5)])])
    result = run(executor.run(resolved(op, registry)))
    assert (result.steps[0].status, result.steps[0].attempts) == ("cancelled", 1)


def test_the_op_is_identical_before_and_after_a_run() -> None:
    fakes = Fakes()
    registry = fakes.registry()
    op = resolved(
        Op(
            name="same",
            phases=[phase("A", [activity("flaky", name="f", failures=1)])],
            on_failure=[phase("U", [activity("ok")])],
        ),
        registry,
    )
    before = op.to_dict()
    run(LocalExecutor(registry, sleep=fakes.sleep).run(op))
    assert op.to_dict() == before


def test_events_are_numbered_stamped_and_complete() -> None:
    fakes = Fakes()
    op = Op(name="ev", phases=[phase("A", [activity("flaky", name="f", failures=1)])])
    result, events = execute(op, fakes)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.run_id for e in events} == {result.run_id}
    assert {e.op for e in events} == {"ev"} and {e.v for e in events} == {1}
    assert all(e.ts.endswith("Z") and "T" in e.ts for e in events)
    assert [e.type for e in events] == [
        "run_started",
        "phase_started",
        "step_started",
        "step_retrying",
        "step_finished",
        "phase_finished",
        "run_finished",
    ]


def test_secret_values_are_masked_in_events_and_results() -> None:
    async def leak(ctx: ActivityContext, token: str) -> dict[str, str]:
        ctx.output(f"token is {token}", "stdout")
        raise ActivityError(f"bad token {token}", non_retryable=True)

    fakes = Fakes()
    registry = fakes.registry(leak=leak)
    op = Op(name="sec", phases=[phase("A", [activity("leak", token=secret("TOKEN"))])])
    events: list[Event] = []
    executor = LocalExecutor(registry, sinks=[events.append], secrets={"TOKEN": "hunter2"})
    result = run(executor.run(resolved(op, registry)))
    blob = repr([e.to_dict() for e in events]) + repr(result.to_dict())
    assert "hunter2" not in blob
    assert result.steps[0].error == {"type": "ActivityError", "message": "bad token ***"}
    assert result.steps[0].args == {"token": {"$secret": "TOKEN"}}
    assert any(e.data.get("line") == "token is ***" for e in events)
