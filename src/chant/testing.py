"""Unit-test an Op with fake activities: no server, no commands, no waiting.

``run_op`` runs an Op through chant's real walk and retry logic (the local executor's)
with every activity replaced by a fake you script, and a fake clock, so retries' backoff
does not wait. It returns a ``FakeRun``: the run's real ``RunResult``, the events that
``chant run --progress-json`` would print, every call the fakes received, and the
delays the retries would have waited. See docs/testing.md.

::

    from chant.testing import fails, raises, run_op

    def test_deploy_is_retried_then_rolled_back():
        run = run_op("rollout", project=ROOT, fakes={
            "deploy.1": fails(2, error=raises("CommandFailedError", "cluster said no")),
        })
        assert run.status == "failed"
        assert run.steps["deploy.1"].attempts == 2
        assert run.steps["rollback.1"].status == "ok"

What a fake does at each attempt is a *behaviour*: a value (returned as the result), an
exception (raised), a callable taking the ``Call`` (its return value is the result; it
may be async and may raise), or a ``Script`` from ``returns``, ``raises``, ``fails`` or
``sequence``. A step is scripted by its id, else by its activity's name (the id wins).
An unscripted step succeeds: ``shell`` with ``{"exit_code": 0, "stdout": "", "stderr":
""}``, any other activity with ``None``; with ``strict=True`` it fails instead, with the
non-retryable ``UnscriptedStepError`` naming the step.

This module does not import Temporal.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chant.errors import ActivityError
from chant.events import Event, RunResult, Sink, StepResult
from chant.ir import JSON, Op
from chant.local.executor import LocalExecutor

if TYPE_CHECKING:
    from chant.activities.registry import ActivityContext, ActivityDef, Registry
    from chant.outcomes import StepOutcome
    from chant.planned import GatePlan, PlannedStep
    from chant.project import Project

__all__ = [
    "Call",
    "FakeClock",
    "FakeRun",
    "GateScript",
    "Script",
    "UnscriptedStepError",
    "approve",
    "fails",
    "hangs",
    "raises",
    "returns",
    "run_op",
    "run_op_async",
    "sequence",
    "times_out",
]

SHELL_OK: dict[str, JSON] = {"exit_code": 0, "stdout": "", "stderr": ""}
"""What an unscripted ``shell`` step returns."""


class UnscriptedStepError(ActivityError):
    """A step with no fake, in a run with ``strict=True`` (non-retryable)."""

    NON_RETRYABLE = True


@dataclass(frozen=True)
class Call:
    """One attempt of a step, as its fake activity received it."""

    step: str
    fn: str
    """The activity's name (``shell``, ``kubectl_apply``, a user's ``@activity``)."""
    args: Mapping[str, JSON]
    """The arguments, with secrets' values in them (as a real activity gets them)."""
    attempt: int
    """1 for the first attempt, 2 for the first retry, …"""
    ctx: ActivityContext | None = field(default=None, compare=False, repr=False)

    def output(self, line: str, stream: str = "stdout") -> None:
        """Emit a line of the step's output (a ``step_output`` event), as a command would."""
        if self.ctx is not None:
            self.ctx.output(line, stream)


Attempt = Callable[[Call], Awaitable[JSON]]


@dataclass(frozen=True)
class Script:
    """What a fake does at each attempt: attempt n plays ``attempts[n - 1]``, and every
    attempt after the last plays the last one."""

    attempts: tuple[Attempt, ...]

    async def play(self, call: Call) -> JSON:
        return await self.attempts[min(call.attempt, len(self.attempts)) - 1](call)


def returns(value: JSON = None, *, output: Iterable[str] = ()) -> Script:
    """Succeed with ``value``, after emitting each line of ``output`` as stdout."""
    lines = tuple(output)

    async def attempt(call: Call) -> JSON:
        for line in lines:
            call.output(line)
        return value

    return Script((attempt,))


def raises(
    type: str = "ActivityError",
    message: str = "scripted failure",
    *,
    non_retryable: bool = False,
) -> Script:
    """Fail with an error of type ``type`` (what ``non_retryable_error_types`` matches)."""

    async def attempt(call: Call) -> JSON:
        raise ActivityError(message, type=type, non_retryable=non_retryable)

    return Script((attempt,))


def fails(times: int, *, error: object = None, then: object = None) -> Script:
    """Fail the first ``times`` attempts with ``error`` (default: ``raises()``), then
    behave as ``then`` (default: an unscripted success)."""
    failure = _script(raises() if error is None else error)
    after = _script(then) if then is not None else Script((_default,))
    return Script(failure.attempts[:1] * times + after.attempts)


def hangs() -> Script:
    """Never return: the attempt runs until something stops it (a ``fail_fast``
    sibling, an interruption). Its profile's timeout is real time, so use it only where
    the run stops it."""

    async def attempt(call: Call) -> JSON:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    return Script((attempt,))


def sequence(*behaviours: object) -> Script:
    """One behaviour per attempt, in order; the last one plays for every later attempt."""
    if not behaviours:
        raise ValueError("sequence() needs at least one behaviour")
    return Script(tuple(a for b in behaviours for a in _script(b).attempts))


def _script(behaviour: object) -> Script:
    if isinstance(behaviour, Script):
        return behaviour
    if isinstance(behaviour, BaseException):
        error = behaviour

        async def fail(call: Call) -> JSON:
            raise error

        return Script((fail,))
    if callable(behaviour):
        handler = behaviour

        async def handle(call: Call) -> JSON:
            result = handler(call)
            return await result if inspect.isawaitable(result) else result  # type: ignore[no-any-return]

        return Script((handle,))
    return returns(behaviour)  # type: ignore[arg-type]  # a result; a run checks it is JSON


async def _default(call: Call) -> JSON:
    return dict(SHELL_OK) if call.fn == "shell" else None


@dataclass(frozen=True)
class GateScript:
    """What a gate gets: a signal from ``approver`` with ``note``, or none (``timed_out``)."""

    approver: str | None = None
    note: str | None = None
    timed_out: bool = False


def approve(approver: str | None = None, note: str | None = None) -> GateScript:
    """The gate's signal arrives at once, as ``chant signal … --approver … --note …``."""
    return GateScript(approver=approver, note=note)


def times_out() -> GateScript:
    """No signal arrives: the gate fails with ``GateTimeoutError`` after its timeout
    (on the fake clock, so at once)."""
    return GateScript(timed_out=True)


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


def run_op(
    op: Op | str,
    *,
    fakes: Mapping[str, object] | None = None,
    gates: Mapping[str, GateScript] | None = None,
    secrets: Mapping[str, str] | None = None,
    project: str | Path | None = None,
    strict: bool = False,
    no_retry: bool = False,
    sinks: Iterable[Sink] = (),
    run_id: str = "test",
) -> FakeRun:
    """Run ``op`` (an ``Op``, or the name of one in ``project``) with fake activities.

    ``fakes``: behaviours by step id or activity name. ``gates``: ``approve(...)`` or
    ``times_out()`` by step id or signal name (an unscripted gate is approved, by no
    one). ``secrets``: the value of each ``secret(...)`` the Op declares (a missing one
    is ``SecretNotSetError``, as in a real run); they are masked in events and results.
    ``project``: the project folder, for an Op's name and for ``[profiles.*]`` (default:
    the project around the current directory when ``op`` is a name, else none).
    ``no_retry``: as ``chant run --no-retry``. ``sinks`` also receive every event.
    Raises what ``chant run`` would for a bad Op (``ValidationError``, …).
    """
    return asyncio.run(
        run_op_async(
            op,
            fakes=fakes,
            gates=gates,
            secrets=secrets,
            project=project,
            strict=strict,
            no_retry=no_retry,
            sinks=sinks,
            run_id=run_id,
        )
    )


async def run_op_async(
    op: Op | str,
    *,
    fakes: Mapping[str, object] | None = None,
    gates: Mapping[str, GateScript] | None = None,
    secrets: Mapping[str, str] | None = None,
    project: str | Path | None = None,
    strict: bool = False,
    no_retry: bool = False,
    sinks: Iterable[Sink] = (),
    run_id: str = "test",
) -> FakeRun:
    """``run_op`` for a test that already runs an event loop."""
    events: list[Event] = []
    clock = FakeClock()
    harness = _Fakes({k: _script(v) for k, v in (fakes or {}).items()}, strict=strict)
    result = await _walk(
        op,
        project=Path(project) if project is not None else None,
        harness=harness,
        gates=dict(gates or {}),
        secrets=dict(secrets or {}),
        sinks=[events.append, *sinks],
        clock=clock,
        no_retry=no_retry,
        run_id=run_id,
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

    def define(self, name: str) -> ActivityDef:
        from chant.activities.registry import ActivityDef

        async def fake(ctx: ActivityContext, **args: JSON) -> JSON:
            call = Call(step=ctx.step_id, fn=name, args=args, attempt=ctx.attempt, ctx=ctx)
            self.calls.append(call)
            script = self.scripts.get(call.step) or self.scripts.get(name)
            if script is not None:
                return await script.play(call)
            if self.strict:
                raise UnscriptedStepError(_unscripted(call.step, name))
            return await _default(call)

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
        **kwargs: Any,
    ) -> None:
        super().__init__(registry, sleep=clock.sleep, **kwargs)
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
            error = {"type": "GateTimeoutError", "message": message}
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


async def _walk(
    op: Op | str,
    *,
    project: Path | None,
    harness: _Fakes,
    gates: Mapping[str, GateScript],
    secrets: Mapping[str, str],
    sinks: list[Sink],
    clock: FakeClock,
    no_retry: bool,
    run_id: str,
) -> RunResult:
    """Resolve ``op`` as ``chant run`` does and walk it with the fakes: the one place
    this module calls into chant.plan, chant.secrets and the executor."""
    from chant.activities.registry import Registry
    from chant.errors import ValidationError
    from chant.planned import Plan
    from chant.project import load_project, resolve
    from chant.secrets import secret_values

    loaded = load_project(project, strict=False) if project or isinstance(op, str) else None
    if isinstance(op, str):
        assert loaded is not None, "a project is loaded to find an Op by name"
        resolved = loaded.op(op)
    else:
        real, known = _known(loaded, harness.scripts)
        profiles = loaded.config.profiles if loaded else {}
        resolved, problems = resolve(op, profiles=profiles, registry=real, activities=known)
        if problems:
            raise ValidationError(problems)
    plan = Plan.of(resolved)
    if no_retry:
        plan = plan.single_attempt()
    values = secret_values(resolved, secrets)
    names = {s.fn for s in plan.steps if s.gate is None}
    executor = _Executor(
        Registry(harness.define(n) for n in sorted(names)),
        gates=gates,
        strict=harness.strict,
        clock=clock,
        sinks=sinks,
        secrets=values,
        run_id=run_id,
    )
    return await executor.run(plan)
