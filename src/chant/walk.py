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
from typing import Any

from chant.errors import ErrorType, UnresolvedReferenceError
from chant.events import (
    Emitter,
    EventType,
    Masker,
    PhaseStatus,
    RunResult,
    RunStatus,
    Sink,
    StepResult,
    StepStatus,
)
from chant.flow import Scope, evaluate, prepared, shown, why_false
from chant.ir import JSON, Op
from chant.outcomes import Record, StepOutcome, error_of
from chant.plandoc import plan_digest
from chant.planned import Plan, PlannedPhase, PlannedStep


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
        params: Mapping[str, JSON] | None = None,
    ) -> None:
        self.run_id = run_id
        self.sinks = tuple(sinks)
        self.masker = masker or Masker()
        self.clock = clock
        """Seconds on a monotonic clock (``time.monotonic`` or ``workflow.time``)."""
        self.now = now
        """The ISO 8601 timestamp for events (default: the wall clock)."""
        self.interrupts = 0
        self._stop_main = self._stop_comp = self._in_comp = False
        self._running: dict[asyncio.Task[Any], bool] = {}
        self._why: dict[asyncio.Task[Any], str] = {}
        self._records: dict[str, Record] = {}
        self.scope = Scope(params or {})
        """What references resolve against: the run's parameter values (checked before the
        run), and each step's result and outcome as it finishes."""
        self._emit: Emitter
        self._digest: str | None = None  # the plan's (``chant.plandoc``), known at run()

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

    async def run(self, plan: Plan | Op) -> RunResult:
        """Run ``plan`` (a resolved Op is planned first) and return its record."""
        if isinstance(plan, Op):
            plan = Plan.of(plan)
        self._emit = Emitter(
            op=plan.name, run_id=self.run_id, sinks=self.sinks, masker=self.masker, now=self.now
        )
        started = self.clock()
        self._digest = plan_digest(plan, self.scope.params)
        self._emit(
            EventType.RUN_STARTED,
            mode=self.mode,
            steps=sum(len(p.steps) for p in plan.phases),
            params=dict(self.scope.params),
            plan_digest=self._digest,
        )
        failed: Record | None = None
        for phase in plan.phases:
            if failed or self._stop_main:
                self._skip_phase(phase)
                continue
            if not self._phase_holds(phase):
                continue
            await self._run_phase(phase)
            records = [self._records[s.id] for s in phase.steps]
            failed = next((r for r in records if r.status == StepStatus.FAILED), None)
        if (failed or self.interrupts > 0) and plan.on_failure:
            await self._compensate(
                plan.on_failure, f"step {failed.step.id} failed" if failed else "interrupted"
            )
        return self._finish(plan, failed, round((self.clock() - started) * 1000))

    async def _compensate(self, phases: tuple[PlannedPhase, ...], reason: str) -> None:
        if not self._stop_comp:
            self._emit(EventType.COMPENSATION_STARTED, reason=reason)
        self._in_comp = True
        for phase in phases:
            if self._stop_comp:
                self._skip_phase(phase)
            elif self._phase_holds(phase):
                await self._run_phase(phase)

    def _finish(self, plan: Plan, failed: Record | None, duration_ms: int) -> RunResult:
        interrupted = self.interrupts > 0
        status = (
            RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED if failed else RunStatus.OK
        )
        error = (
            failed.error
            if failed
            else (
                {"type": ErrorType.INTERRUPTED, "message": "interrupted"} if interrupted else None
            )
        )
        failed_step = failed.step.id if failed else None
        self._emit(
            EventType.RUN_FINISHED,
            ok=status == RunStatus.OK,
            status=status,
            duration_ms=duration_ms,
            failed_step=failed_step,
            error=error,
        )
        mask = self._emit.mask
        return RunResult(
            op=plan.name,
            mode=self.mode,
            run_id=self.run_id,
            ok=status == RunStatus.OK,
            status=status,
            duration_ms=duration_ms,
            failed_step=failed_step,
            error=mask.fields(error) if error else None,
            steps=tuple(self._step_result(r, mask) for r in self._records.values()),
            params=dict(self.scope.params),
            plan_digest=self._digest,
        )

    @staticmethod
    def _step_result(r: Record, mask: Masker) -> StepResult:
        shown = r.shown() | {
            "outcome": mask.fields(r.outcome) if r.outcome else None,
            "error": mask.fields(r.error) if r.error else None,
        }
        return StepResult(
            id=r.step.id, result=mask(r.result), compensation=r.step.compensation, **shown
        )

    def _halted(self, compensation: bool) -> bool:
        return self._stop_comp if compensation else self._stop_main

    def _phase_started(self, phase: PlannedPhase, *, skipped: bool) -> None:
        self._emit(
            EventType.PHASE_STARTED,
            phase=phase.name,
            parallel=phase.parallel,
            compensation=phase.compensation,
            skipped=skipped,
        )

    def _skip_phase(self, phase: PlannedPhase, reason: str | None = None) -> None:
        self._phase_started(phase, skipped=True)
        for step in phase.steps:
            self._skip(step, reason)
        self._emit(
            EventType.PHASE_FINISHED, phase=phase.name, status=PhaseStatus.SKIPPED, duration_ms=0
        )

    def _phase_holds(self, phase: PlannedPhase) -> bool:
        """Whether ``phase`` is to run: True without a condition. A false condition
        skips each step with the reason; one that cannot be evaluated fails the
        phase's first step (the rest are skipped), as a step's own does."""
        if phase.when is None:
            return True
        try:
            if evaluate(phase.when, self.scope):
                return True
        except UnresolvedReferenceError as exc:
            self._phase_started(phase, skipped=False)
            first, *rest = phase.steps
            self._unresolved(first, exc)
            for step in rest:
                self._skip(step)
            self._emit(
                EventType.PHASE_FINISHED, phase=phase.name, status=PhaseStatus.FAILED, duration_ms=0
            )
            return False
        self._skip_phase(phase, why_false(phase.when, self.scope))
        return False

    def _skip(self, step: PlannedStep, reason: str | None = None) -> Record:
        rec = Record(self._shown(step))
        rec.reason = reason
        self._records[step.id] = rec
        self._finished(rec)
        return rec

    def _unresolved(self, step: PlannedStep, exc: UnresolvedReferenceError) -> Record:
        """Record ``step`` failed before its first attempt: a reference or condition of
        it had no value."""
        step = self._shown(step)
        rec = Record(step, status=StepStatus.FAILED)
        rec.error = error_of(exc)
        self._records[step.id] = rec
        self._emit(
            EventType.STEP_STARTED, step=step.id, phase=step.phase, fn=step.fn, args=step.shown_args
        )
        self._finished(rec)
        return rec

    def _finished(self, rec: Record) -> None:
        step_id = rec.step.id
        if rec.status == StepStatus.OK:
            self.scope.results[step_id] = rec.result
            if rec.outcome is not None:
                self.scope.outcomes[str(rec.outcome["name"])] = rec.outcome["value"]
        else:
            self.scope.states[step_id] = rec.status
        self._emit(EventType.STEP_FINISHED, step=step_id, **rec.shown())

    def _shown(self, step: PlannedStep) -> PlannedStep:
        return shown(step, self.scope)

    async def _run_phase(self, phase: PlannedPhase) -> None:
        self._phase_started(phase, skipped=False)
        started = self.clock()
        if phase.parallel:
            await self._parallel(phase)
        else:
            broken = False
            for step in phase.steps:
                # Compensation is best effort: a failed step does not stop the next one.
                if broken or self._halted(phase.compensation):
                    self._skip(step)
                    continue
                rec = await self._spawn(step)
                # A step its condition skipped does not stop the next one.
                broken = (
                    rec.status in (StepStatus.FAILED, StepStatus.CANCELLED)
                    and not phase.compensation
                )
        statuses = {self._records[s.id].status for s in phase.steps}
        status = next(
            (PhaseStatus(s) for s in (StepStatus.FAILED, StepStatus.CANCELLED) if s in statuses),
            PhaseStatus.OK if StepStatus.OK in statuses else PhaseStatus.SKIPPED,
        )
        self._emit(
            EventType.PHASE_FINISHED,
            phase=phase.name,
            status=status,
            duration_ms=round((self.clock() - started) * 1000),
        )

    async def _spawn(self, step: PlannedStep) -> Record:
        task = asyncio.ensure_future(self._run_step(step))
        self._running[task] = step.compensation
        try:
            return await task
        except asyncio.CancelledError:
            if not self._stopped_before_start(task):
                raise
            return self._skip(step)
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

    async def _parallel(self, phase: PlannedPhase) -> None:
        gate = asyncio.Semaphore(phase.max_concurrency) if phase.max_concurrency else None
        tasks: list[asyncio.Task[Record]] = []

        async def one(step: PlannedStep) -> Record:
            if gate is not None:
                try:
                    await gate.acquire()
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is None or self._why.get(current) is None:
                        raise
                    current.uncancel()
                    return self._skip(step)
            try:
                if self._halted(phase.compensation):
                    return self._skip(step)
                rec = await self._run_step(step)
                if rec.status == StepStatus.FAILED and phase.fail_fast:
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
            self._running[task] = phase.compensation
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for step, task, result in zip(phase.steps, tasks, results, strict=True):
                if isinstance(result, asyncio.CancelledError) and self._stopped_before_start(task):
                    self._skip(step)
                elif isinstance(result, BaseException):
                    raise result
        finally:
            for task in tasks:
                self._running.pop(task, None)
                self._why.pop(task, None)

    async def _run_step(self, step: PlannedStep) -> Record:
        if step.when is not None or step.dynamic:
            ready = prepared(step, self.scope)
            if isinstance(ready, str):
                return self._skip(step, ready)
            if isinstance(ready, UnresolvedReferenceError):
                return self._unresolved(step, ready)
            step = ready
        rec = Record(step, status=StepStatus.RUNNING)
        self._records[step.id] = rec
        self._emit(
            EventType.STEP_STARTED, step=step.id, phase=step.phase, fn=step.fn, args=step.shown_args
        )
        started = self.clock()
        try:
            done = await self._execute(step)
            rec.status, rec.attempts, rec.result = done.status, done.attempts, done.result
            rec.outcome, rec.error = done.outcome, done.error
        except asyncio.CancelledError:
            task = asyncio.current_task()
            why = self._why.get(task) if task else None
            if why is None or task is None:
                raise
            task.uncancel()
            rec.status = StepStatus.CANCELLED
            rec.error = {"type": ErrorType.CANCELLED, "message": why}
        finally:
            rec.duration_ms = round((self.clock() - started) * 1000)
            if rec.status == StepStatus.RUNNING:  # an unexpected cancellation from outside
                rec.status = StepStatus.CANCELLED
            self._finished(rec)
        return rec

    def attempting(self, step_id: str, attempt: int) -> None:
        """Executors say which attempt of a running step is under way, so a step
        cancelled mid-attempt is recorded with the attempts it had."""
        rec = self._records.get(step_id)
        if rec is not None and rec.status == StepStatus.RUNNING:
            rec.attempts = attempt

    def running(self, step_id: str) -> bool:
        rec = self._records.get(step_id)
        return rec is not None and rec.status == StepStatus.RUNNING

    async def _execute(self, step: PlannedStep) -> StepOutcome:
        """Execute ``step`` and say how it ended. Cancellation (``fail_fast``,
        interruption) arrives as CancelledError."""
        raise NotImplementedError
