"""Unit-test an Op with fake activities: no server, no commands, no waiting.

``run_op`` runs an Op through chant's real walk and retry logic (the local executor's)
with every activity replaced by a fake you script, and a fake clock, so retries' backoff
does not wait. It returns a ``FakeRun``: the run's real ``RunResult``, the events that
``chant run --progress-json`` would print, every call the fakes received, and the
delays the retries would have waited. See docs/testing.md.

::

    from chant.testing import raises, run_op

    def test_a_failed_deploy_is_rolled_back():
        run = run_op("rollout", project=ROOT, fakes={"deploy.1": raises("CommandFailedError")})
        assert run.status == "failed"
        assert run.steps["rollback.1"].status == "ok"

A fake's *behaviour* at each attempt (``returns``, ``raises``, ``fails``, ``sequence``,
``hangs``, ``interrupts``, a value, an exception or a callable) is set by step id or
activity name (the id wins); an unscripted step succeeds, unless ``strict=True``.

This module does not import Temporal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from chant.errors import ErrorType
from chant.events import Event, RunResult, Sink, StepResult
from chant.fakes import (
    SHELL_OK,
    Call,
    GateScript,
    Script,
    UnscriptedStepError,
    approve,
    as_script,
    fails,
    hangs,
    interrupts,
    raises,
    returns,
    sequence,
    times_out,
    unscripted_result,
)
from chant.ir import JSON, Op
from chant.local.executor import LocalExecutor
from chant.params import check
from chant.planned import Plan

if TYPE_CHECKING:
    from chant.activities.registry import ActivityContext, ActivityDef, Registry
    from chant.outcomes import StepOutcome
    from chant.planned import GatePlan, PlannedStep
    from chant.project import Project

__all__ = [
    "SHELL_OK",
    "Call",
    "FakeClock",
    "FakeRun",
    "GateScript",
    "Options",
    "Script",
    "UnscriptedStepError",
    "approve",
    "fails",
    "hangs",
    "interrupts",
    "raises",
    "returns",
    "run_op",
    "run_op_async",
    "sequence",
    "times_out",
]

EPOCH = 1767225600.0
"""The fake clock's zero: 2026-01-01T00:00:00Z, so event timestamps are the same every run."""


class FakeClock:
    """Seconds since the run began; ``sleep`` records the delay and moves time on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def iso(self) -> str:
        at = EPOCH + self.now
        ms = round(at % 1 * 1000) % 1000
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{ms:03d}Z"


@dataclass(frozen=True)
class FakeRun:
    """What a run under fakes did."""

    result: RunResult
    """The record, as ``chant run --json`` prints it (secrets masked)."""
    events: tuple[Event, ...]
    """Every event, as ``chant run --progress-json`` prints them (secrets masked)."""
    calls: tuple[Call, ...]
    """Every attempt of every activity step, in the order they started."""
    sleeps: tuple[float, ...]
    """The backoff delays, in seconds, the retries would have waited (none was waited)."""

    @property
    def status(self) -> str:
        """``ok``, ``failed`` or ``interrupted``."""
        return self.result.status

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def steps(self) -> dict[str, StepResult]:
        """Each step's result by id."""
        return {s.id: s for s in self.result.steps}

    @property
    def outcomes(self) -> dict[str, JSON]:
        return self.result.outcomes

    @property
    def event_types(self) -> list[str]:
        return [e.type for e in self.events]

    def calls_to(self, step_or_fn: str) -> list[Call]:
        """The calls of step ``step_or_fn``, or else of every step of that activity."""
        mine = [c for c in self.calls if c.step == step_or_fn]
        return mine or [c for c in self.calls if c.fn == step_or_fn]


class Options(TypedDict, total=False):
    """The keyword arguments of ``run_op`` and ``run_op_async`` (all optional)."""

    fakes: Mapping[str, object]
    """Behaviours by step id or activity name (the id wins)."""
    gates: Mapping[str, GateScript]
    """``approve(...)`` or ``times_out()`` by step id or signal name (an unscripted gate
    is approved, by no one)."""
    secrets: Mapping[str, str]
    """The value of each ``secret(...)`` the Op declares (a missing one is
    ``SecretNotSetError``, as in a real run); masked in events and results."""
    params: Mapping[str, JSON]
    """The Op's parameter values by name, typed as it declares them (defaults fill in the
    rest); checked as ``chant.run(params=...)`` checks them (``ParamError``)."""
    project: str | Path
    """The project folder, for an Op's name, ``[profiles.*]`` and activities (default:
    the project around the current directory when ``op`` is a name, else none)."""
    strict: bool
    """A step with no fake fails with ``UnscriptedStepError`` (default: it succeeds)."""
    no_retry: bool
    """One attempt per step, as ``chant run --no-retry``."""
    sinks: Iterable[Sink]
    """More sinks that receive every event."""
    run_id: str
    """The run id of events and result (default ``test``)."""


def run_op(op: Op | Plan | str, **options: Unpack[Options]) -> FakeRun:
    """Run ``op`` (an ``Op``, a ``Plan``, or the name of an Op in ``project``) with fake
    activities (see ``Options``). Raises what ``chant run`` would for a bad Op
    (``ValidationError``, ``OpNotFoundError``, ``ParamError``, ``SecretNotSetError``)."""
    return asyncio.run(run_op_async(op, **options))


async def run_op_async(op: Op | Plan | str, **options: Unpack[Options]) -> FakeRun:
    """``run_op`` for a test that already runs an event loop."""
    unknown = sorted(set(options) - Options.__optional_keys__)
    if unknown:  # as Python says it for a misspelt keyword, which **options would hide
        raise TypeError(f"run_op() got an unexpected keyword argument {unknown[0]!r}")
    events: list[Event] = []
    clock = FakeClock()
    fakes = options.get("fakes") or {}
    harness = _Fakes(
        {k: as_script(v) for k, v in fakes.items()}, strict=options.get("strict", False)
    )
    project = options.get("project")
    plan = _plan(op, Path(project) if project is not None else None, harness.scripts)
    params = check(plan.op, options.get("params") or {})
    result = await _walk(
        plan,
        harness=harness,
        gates=dict(options.get("gates") or {}),
        secrets=dict(options.get("secrets") or {}),
        params=params,
        sinks=[events.append, *options.get("sinks", ())],
        clock=clock,
        no_retry=options.get("no_retry", False),
        run_id=options.get("run_id", "test"),
    )
    return FakeRun(
        result=result, events=tuple(events), calls=tuple(harness.calls), sleeps=tuple(clock.sleeps)
    )


class _Fakes:
    """The fake activities of one run and the calls they received."""

    def __init__(self, scripts: Mapping[str, Script], *, strict: bool) -> None:
        self.scripts = scripts
        self.strict = strict
        self.calls: list[Call] = []
        self.stop: Callable[[], object] | None = None
        """The executor's ``interrupt``, once it exists."""

    def define(self, name: str) -> ActivityDef:
        from chant.activities.registry import ActivityDef

        async def fake(ctx: ActivityContext, **args: JSON) -> object:
            call = Call(
                step=ctx.step_id, fn=name, args=args, attempt=ctx.attempt, ctx=ctx, stop=self.stop
            )
            self.calls.append(call)
            script = self.scripts.get(call.step) or self.scripts.get(name)
            if script is not None:
                return await script.play(call)
            if self.strict:
                raise UnscriptedStepError(_unscripted(call.step, name))
            return await unscripted_result(call)

        return ActivityDef(name=name, fn=fake, source="chant.testing (fake)")


def _unscripted(step: str, fn: str) -> str:
    return (
        f'step {step}: no fake for activity "{fn}" (strict=True); script it by step id '
        f'or activity name, e.g. fakes={{"{step}": returns(...)}}'
    )


class _Executor(LocalExecutor):
    """The local executor, which also plays gates as a Temporal workflow runs them."""

    def __init__(
        self,
        registry: Registry,
        *,
        gates: Mapping[str, GateScript],
        strict: bool,
        clock: FakeClock,
        sinks: Iterable[Sink],
        secrets: Mapping[str, str],
        params: Mapping[str, JSON],
        run_id: str,
    ) -> None:
        super().__init__(
            registry, sinks=sinks, secrets=secrets, params=params, sleep=clock.sleep, run_id=run_id
        )
        self.gates, self.strict, self.fake_clock = gates, strict, clock
        self.clock, self.now = clock.monotonic, clock.iso

    async def _execute(self, step: PlannedStep) -> StepOutcome:
        if step.gate is None:
            return await super()._execute(step)
        return self._gate(step.id, step.gate)

    def _gate(self, step_id: str, gate: GatePlan) -> StepOutcome:
        # The lines, result and errors of chant.temporal.workflow's gate.
        from chant.events import StepStatus
        from chant.outcomes import StepOutcome

        signal = gate.signal
        self._log(
            step_id,
            f'waiting for signal "{signal}" (up to {gate.timeout_text}): '
            f"chant signal {self._emit.op} {signal} --approver NAME",
        )
        script = self.gates.get(step_id) or self.gates.get(signal)
        if script is None and self.strict:
            error = {"type": "UnscriptedStepError", "message": _unscripted(step_id, "gate")}
            return StepOutcome(StepStatus.FAILED, 1, error=error)
        script = script or GateScript()
        if script.timed_out:
            self.fake_clock.now += gate.timeout
            message = f'gate "{step_id}" got no "{signal}" signal within {gate.timeout_text}'
            error = {"type": ErrorType.GATE_TIMEOUT, "message": message}
            return StepOutcome(StepStatus.FAILED, 1, error=error)
        note = f": {script.note}" if script.note else ""
        self._log(step_id, f'"{signal}" approved by {script.approver or "(unnamed)"}{note}')
        at = self.fake_clock.iso()
        result = {"signal": signal, "approver": script.approver, "note": script.note, "at": at}
        return StepOutcome(StepStatus.OK, 1, result)

    def _log(self, step_id: str, line: str) -> None:
        from chant.events import EventType

        self._emit(EventType.STEP_OUTPUT, step=step_id, stream="log", line=line)


def _known(loaded: Project | None, scripted: Iterable[str]) -> tuple[Registry, dict[str, str]]:
    """The project's real registry (for default profiles and argument checks) and each
    activity's default profile, with names only the fakes know given the default one."""
    from chant.activities.registry import default_registry
    from chant.profiles import DEFAULT_PROFILE

    real = loaded.registry if loaded else default_registry()
    known = {n: d.default_profile for n in real.names() if (d := real.get(n))}
    return real, known | {k: DEFAULT_PROFILE for k in scripted if k not in known}


def _check_targets(plan: Plan, fakes: Iterable[str], gates: Iterable[str]) -> None:
    """Refuse a fake or gate script that no step would play (a misspelt step id)."""
    from chant.errors import UsageError
    from chant.names import suggest

    steps = [s for s in plan.steps if s.gate is None]
    gated = {s.id for s in plan.gates} | {s.gate.signal for s in plan.gates if s.gate}
    for key in fakes:
        if key in gated:
            raise UsageError(
                f'op "{plan.name}": "{key}" is a gate, not an activity step',
                hint=f'script it in gates=, e.g. gates={{"{key}": approve()}}',
            )
        targets = {s.id for s in steps} | {s.fn for s in steps}
        if key not in targets:
            raise UsageError(
                f'op "{plan.name}" has no step or activity "{key}" to script',
                hint=suggest(key, sorted(targets)),
            )
    for key in gates:
        if key not in gated:
            raise UsageError(
                f'op "{plan.name}" has no gate step or signal "{key}" to script',
                hint=suggest(key, sorted(gated)),
            )


def _plan(op: Op | Plan | str, project: Path | None, scripted: Iterable[str]) -> Plan:
    """``op`` resolved and planned as ``chant run`` does it (``ValidationError``,
    ``OpNotFoundError``); a ``Plan`` is taken as it is."""
    from chant.errors import ValidationError
    from chant.project import load_project, resolve

    if isinstance(op, Plan):
        return op
    loaded = load_project(project, strict=False) if project or isinstance(op, str) else None
    if isinstance(op, str):
        assert loaded is not None, "a project is loaded to find an Op by name"
        return Plan.of(loaded.op(op))
    real, known = _known(loaded, scripted)
    profiles = loaded.config.profiles if loaded else {}
    resolved, problems = resolve(op, profiles=profiles, registry=real, activities=known)
    if problems:
        raise ValidationError(problems)
    return Plan.of(resolved)


async def _walk(
    plan: Plan,
    *,
    harness: _Fakes,
    gates: Mapping[str, GateScript],
    secrets: Mapping[str, str],
    params: Mapping[str, JSON],
    sinks: list[Sink],
    clock: FakeClock,
    no_retry: bool,
    run_id: str,
) -> RunResult:
    """Walk ``plan`` with the fakes through the local executor."""
    from chant.activities.registry import Registry
    from chant.plan import single_attempt
    from chant.secrets import secret_values

    _check_targets(plan, harness.scripts, gates)
    if no_retry:
        plan = Plan.of(single_attempt(plan.op))
    values = secret_values(plan.op, secrets)
    names = {s.fn for s in plan.steps if s.gate is None}
    executor = _Executor(
        Registry(harness.define(n) for n in sorted(names)),
        gates=gates,
        strict=harness.strict,
        clock=clock,
        sinks=sinks,
        secrets=values,
        params=params,
        run_id=run_id,
    )
    harness.stop = executor.interrupt
    return await executor.run(plan)
