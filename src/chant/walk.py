"""The walk through an Op's phases, shared by both executors.

``Walker`` knows the order of things: phases in order, sequential and parallel phases,
``fail_fast`` and ``max_concurrency``, ``skipped`` and ``cancelled`` records, the
``on_failure`` phases in declared order (best effort), interruption, and the events
that tell it all. How one step is executed is the subclass's business:
``chant.local.executor.LocalExecutor`` runs attempts in this process,
``chant.temporal.workflow`` schedules Temporal activities.

Nothing here reads a clock, a file or the environment except through what it is given,
so Temporal's workflow sandbox can run it deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chant.errors import ActivityError, OutcomeError
from chant.events import Emitter, Masker, RunResult, Sink, StepResult
from chant.ir import JSON, ActivityStep, Op, Phase, Step, _args_to_json


@dataclass
class Record:
    step: Step
    phase: str
    compensation: bool
    status: str = "skipped"
    attempts: int = 0
    duration_ms: int = 0
    outcome: dict[str, Any] | None = None
    result: Any = None
    error: dict[str, str] | None = None


def pick(result: JSON, path: str | None, name: str) -> JSON:
    """The value at dot-path ``path`` in ``result`` (list items by index)."""
    if not path:
        return result
    value = result
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise OutcomeError(f'outcome "{name}": the result has no "{path}" (no "{part}" there)')
    return value


def fn_args(step: Step) -> tuple[str, dict[str, Any]]:
    """The ``fn`` and ``args`` that events and records show for ``step``."""
    if isinstance(step, ActivityStep):
        args = _args_to_json(step.args)
        return step.fn, dict(args) if isinstance(args, Mapping) else {}
    return "gate", {"signal": step.signal, "timeout": step.timeout}


def error_of(exc: BaseException) -> dict[str, str]:
    """The ``{"type", "message"}`` of a failed attempt (unmasked: callers mask it)."""
    kind = exc.type if isinstance(exc, ActivityError) else type(exc).__name__
    try:
        message = exc.message if isinstance(exc, ActivityError) else str(exc)
    except Exception:  # an exception whose __str__ itself fails
        message = f"({kind}: its message cannot be shown)"
    return {"type": str(kind), "message": str(message)}


class Walker:
    """Walks one resolved Op. Subclasses say how a step is executed (``_execute``)."""

    mode = "local"

    def __init__(
        self,
        *,
        run_id: str,
        sinks: Iterable[Sink] = (),
        masker: Masker | None = None,
        clock: Callable[[], float],
        now: Callable[[], str] | None = None,
    ) -> None:
        self.run_id = run_id
        self.sinks = tuple(sinks)
        self.masker = masker or Masker()
        self.clock = clock
        """Seconds on a monotonic clock (``time.monotonic`` or ``workflow.time``)."""
        self.now = now
        """The ISO 8601 timestamp for events (default: the wall clock)."""
        self.interrupts = 0
        self._stop_main = False
        self._stop_comp = False
        self._in_comp = False
        self._running: dict[asyncio.Task[Any], bool] = {}
        self._why: dict[asyncio.Task[Any], str] = {}
        self._records: dict[str, Record] = {}
        self._emit: Emitter

    # -- control -------------------------------------------------------------------

    def interrupt(self) -> bool:
        """Stop running steps. The first call leads to compensation; a call during
        compensation (or a second call) abandons it. Returns True when compensation is
        being skipped."""
        self.interrupts += 1
        skip_comp = self._in_comp or self.interrupts > 1
        self._stop_main = True
        if skip_comp:
            self._stop_comp = True
        for task, comp in list(self._running.items()):
            if not comp or skip_comp:
                self._cancel(task, "interrupted")
        return skip_comp

    def _cancel(self, task: asyncio.Task[Any], why: str) -> None:
        if not task.done():
            self._why[task] = why
            task.cancel()

    # -- the walk ------------------------------------------------------------------

    async def run(self, op: Op) -> RunResult:
        """Run ``op`` (resolved by ``chant.plan``) and return its record."""
        self._emit = Emitter(
            op=op.name, run_id=self.run_id, sinks=self.sinks, masker=self.masker, now=self.now
        )
        started = self.clock()
        self._emit("run_started", mode=self.mode, steps=sum(len(p.steps) for p in op.phases))
        failed: Record | None = None
        for phase in op.phases:
            if failed or self._stop_main:
                self._skip_phase(phase, compensation=False)
                continue
            await self._run_phase(phase, compensation=False)
            records = [self._records[str(s.id)] for s in phase.steps]
            failed = next((r for r in records if r.status == "failed"), None)
        interrupted = self.interrupts > 0
        if (failed or interrupted) and op.on_failure:
            reason = f"step {failed.step.id} failed" if failed else "interrupted"
            if not self._stop_comp:
                self._emit("compensation_started", reason=reason)
            self._in_comp = True
            for phase in op.on_failure:
                if self._stop_comp:
                    self._skip_phase(phase, compensation=True)
                else:
                    await self._run_phase(phase, compensation=True)
        interrupted = self.interrupts > 0
        status = "interrupted" if interrupted else "failed" if failed else "ok"
        error = (
            failed.error
            if failed
            else ({"type": "Interrupted", "message": "interrupted"} if interrupted else None)
        )
        duration_ms = round((self.clock() - started) * 1000)
        self._emit(
            "run_finished",
            ok=status == "ok",
            status=status,
            duration_ms=duration_ms,
            failed_step=failed.step.id if failed else None,
            error=error,
        )
        mask = self._emit.mask
        return RunResult(
            op=op.name,
            mode=self.mode,
            run_id=self.run_id,
            ok=status == "ok",
            status=status,
            duration_ms=duration_ms,
            failed_step=failed.step.id if failed else None,
            error=mask.fields(error) if error else None,
            steps=tuple(self._step_result(r, mask) for r in self._records.values()),
        )

    @staticmethod
    def _step_result(r: Record, mask: Masker) -> StepResult:
        fn, args = fn_args(r.step)
        return StepResult(
            id=str(r.step.id),
            phase=r.phase,
            fn=fn,
            args=args,
            status=r.status,
            attempts=r.attempts,
            duration_ms=r.duration_ms,
            outcome=mask.fields(r.outcome) if r.outcome else None,
            result=mask(r.result),
            error=mask.fields(r.error) if r.error else None,
            compensation=r.compensation,
        )

    def _halted(self, compensation: bool) -> bool:
        return self._stop_comp if compensation else self._stop_main

    def _skip_phase(self, phase: Phase, *, compensation: bool) -> None:
        self._emit(
            "phase_started",
            phase=phase.name,
            parallel=phase.parallel,
            compensation=compensation,
            skipped=True,
        )
        for step in phase.steps:
            self._skip(step, phase, compensation)
        self._emit("phase_finished", phase=phase.name, status="skipped", duration_ms=0)

    def _skip(self, step: Step, phase: Phase, compensation: bool) -> Record:
        rec = Record(step, phase.name, compensation)
        self._records[str(step.id)] = rec
        self._finished(rec)
        return rec

    def _finished(self, rec: Record) -> None:
        fn, args = fn_args(rec.step)
        self._emit(
            "step_finished",
            step=rec.step.id,
            phase=rec.phase,
            fn=fn,
            args=args,
            status=rec.status,
            attempts=rec.attempts,
            duration_ms=rec.duration_ms,
            outcome=rec.outcome,
            error=rec.error,
        )

    async def _run_phase(self, phase: Phase, *, compensation: bool) -> None:
        self._emit(
            "phase_started",
            phase=phase.name,
            parallel=phase.parallel,
            compensation=compensation,
            skipped=False,
        )
        started = self.clock()
        if phase.parallel:
            await self._parallel(phase, compensation)
        else:
            broken = False
            for step in phase.steps:
                # Compensation is best effort: a failed step does not stop the next one.
                if broken or self._halted(compensation):
                    self._skip(step, phase, compensation)
                    continue
                rec = await self._spawn(step, phase, compensation)
                broken = rec.status != "ok" and not compensation
        statuses = {self._records[str(s.id)].status for s in phase.steps}
        status = next(
            (s for s in ("failed", "cancelled") if s in statuses),
            "ok" if "ok" in statuses else "skipped",
        )
        self._emit(
            "phase_finished",
            phase=phase.name,
            status=status,
            duration_ms=round((self.clock() - started) * 1000),
        )

    async def _spawn(self, step: Step, phase: Phase, compensation: bool) -> Record:
        task = asyncio.ensure_future(self._run_step(step, phase, compensation))
        self._running[task] = compensation
        try:
            return await task
        except asyncio.CancelledError:
            if not self._stopped_before_start(task):
                raise
            return self._skip(step, phase, compensation)
        finally:
            self._running.pop(task, None)
            self._why.pop(task, None)

    def _stopped_before_start(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``interrupt()`` (or fail_fast) cancelled ``task`` before it began: a
        task cancelled so never runs its code, so its step is skipped, not failed. (On
        Temporal a cancel that arrives with the run's start lands just so.)"""
        current = asyncio.current_task()
        outer = current is not None and current.cancelling() > 0
        return task.cancelled() and task in self._why and not outer

    async def _parallel(self, phase: Phase, compensation: bool) -> None:
        gate = asyncio.Semaphore(phase.max_concurrency) if phase.max_concurrency else None
        tasks: list[asyncio.Task[Record]] = []

        async def one(step: Step) -> Record:
            if gate is not None:
                try:
                    await gate.acquire()
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is None or self._why.get(current) is None:
                        raise
                    current.uncancel()
                    return self._skip(step, phase, compensation)
            try:
                if self._halted(compensation):
                    return self._skip(step, phase, compensation)
                rec = await self._run_step(step, phase, compensation)
                if rec.status == "failed" and phase.fail_fast:
                    for t in tasks:
                        if t is not asyncio.current_task():
                            self._cancel(t, "cancelled: a sibling failed (fail_fast)")
                return rec
            finally:
                if gate is not None:
                    gate.release()

        for step in phase.steps:
            task = asyncio.ensure_future(one(step))
            tasks.append(task)
            self._running[task] = compensation
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for step, task, result in zip(phase.steps, tasks, results, strict=True):
                if isinstance(result, asyncio.CancelledError) and self._stopped_before_start(task):
                    self._skip(step, phase, compensation)
                elif isinstance(result, BaseException):
                    raise result
        finally:
            for task in tasks:
                self._running.pop(task, None)
                self._why.pop(task, None)

    async def _run_step(self, step: Step, phase: Phase, compensation: bool) -> Record:
        rec = Record(step, phase.name, compensation, status="running")
        self._records[str(step.id)] = rec
        fn, args = fn_args(step)
        self._emit("step_started", step=step.id, phase=phase.name, fn=fn, args=args)
        started = self.clock()
        try:
            await self._execute(step, rec, compensation)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            why = self._why.get(task) if task else None
            if why is None or task is None:
                raise
            task.uncancel()
            rec.status = "cancelled"
            rec.error = {"type": "Cancelled", "message": why}
        finally:
            rec.duration_ms = round((self.clock() - started) * 1000)
            if rec.status == "running":  # an unexpected cancellation from outside
                rec.status = "cancelled"
            self._finished(rec)
        return rec

    async def _execute(self, step: Step, rec: Record, compensation: bool) -> None:
        """Execute ``step``, filling in ``rec``'s status, attempts, result, outcome and
        error. Cancellation (``fail_fast``, interruption) arrives as CancelledError."""
        raise NotImplementedError
