"""The in-process executor: walks a resolved Op with asyncio.

It gets the IR, a registry, secret values and sinks; it reads no files and no
environment. Every step runs as its own task so that a timeout, a fail-fast sibling
or Ctrl-C can stop exactly that step (and, through the activity, its process group).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chant.activities.registry import ActivityContext, ActivityDef, Registry
from chant.errors import (
    ActivityError,
    ActivityTimeoutError,
    HeartbeatTimeoutError,
    OutcomeError,
    UnknownActivityError,
)
from chant.events import Emitter, Masker, RunResult, Sink, StepResult
from chant.ir import JSON, ActivityStep, Op, Phase, Profile, Secret, Step, _args_to_json
from chant.profiles import may_retry, parse_duration, retry_delay

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Record:
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


def resolve_secrets(value: JSON, secrets: Mapping[str, str]) -> JSON:
    if isinstance(value, Secret):
        return secrets[value.name]
    if isinstance(value, Mapping):
        return {k: resolve_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_secrets(v, secrets) for v in value]
    return value


def _error(exc: BaseException) -> dict[str, str]:
    kind = exc.type if isinstance(exc, ActivityError) else type(exc).__name__
    message = exc.message if isinstance(exc, ActivityError) else str(exc)
    return {"type": kind, "message": message}


class LocalExecutor:
    """Runs one Op in this process. Call ``interrupt()`` on Ctrl-C / SIGTERM."""

    def __init__(
        self,
        registry: Registry,
        *,
        sinks: Iterable[Sink] = (),
        secrets: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        kill_grace: float = 2.0,
        run_id: str | None = None,
    ) -> None:
        self.registry = registry
        self.sinks = tuple(sinks)
        self.secrets = dict(secrets or {})
        self.sleep = sleep
        self.kill_grace = kill_grace
        self.run_id = run_id or os.urandom(6).hex()
        self.interrupts = 0
        self._stop_main = False
        self._stop_comp = False
        self._in_comp = False
        self._running: dict[asyncio.Task[Any], bool] = {}
        self._why: dict[asyncio.Task[Any], str] = {}
        self._records: dict[str, _Record] = {}
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
            op=op.name, run_id=self.run_id, sinks=self.sinks, masker=Masker(self.secrets.values())
        )
        started = time.monotonic()
        self._emit("run_started", mode="local", steps=sum(len(p.steps) for p in op.phases))
        failed: _Record | None = None
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
        duration_ms = round((time.monotonic() - started) * 1000)
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
            mode="local",
            run_id=self.run_id,
            ok=status == "ok",
            status=status,
            duration_ms=duration_ms,
            failed_step=failed.step.id if failed else None,
            error=mask(error),
            steps=tuple(self._step_result(r, mask) for r in self._records.values()),
        )

    @staticmethod
    def _step_result(r: _Record, mask: Masker) -> StepResult:
        step = r.step
        fn = step.fn if isinstance(step, ActivityStep) else "gate"
        args = _args_to_json(step.args) if isinstance(step, ActivityStep) else {}
        return StepResult(
            id=str(step.id),
            phase=r.phase,
            fn=fn,
            args=args,
            status=r.status,
            attempts=r.attempts,
            duration_ms=r.duration_ms,
            outcome=mask(r.outcome),
            result=mask(r.result),
            error=mask(r.error),
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

    def _skip(self, step: Step, phase: Phase, compensation: bool) -> _Record:
        rec = _Record(step, phase.name, compensation)
        self._records[str(step.id)] = rec
        self._finished(rec)
        return rec

    def _finished(self, rec: _Record) -> None:
        step = rec.step
        self._emit(
            "step_finished",
            step=step.id,
            phase=rec.phase,
            fn=step.fn if isinstance(step, ActivityStep) else "gate",
            args=_args_to_json(step.args) if isinstance(step, ActivityStep) else {},
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
        started = time.monotonic()
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
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    async def _spawn(self, step: Step, phase: Phase, compensation: bool) -> _Record:
        task = asyncio.ensure_future(self._run_step(step, phase, compensation))
        self._running[task] = compensation
        try:
            return await task
        finally:
            self._running.pop(task, None)
            self._why.pop(task, None)

    async def _parallel(self, phase: Phase, compensation: bool) -> None:
        gate = asyncio.Semaphore(phase.max_concurrency) if phase.max_concurrency else None
        tasks: list[asyncio.Task[_Record]] = []

        async def one(step: Step) -> _Record:
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
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                self._running.pop(task, None)
                self._why.pop(task, None)

    async def _run_step(self, step: Step, phase: Phase, compensation: bool) -> _Record:
        rec = _Record(step, phase.name, compensation, status="running")
        self._records[str(step.id)] = rec
        assert isinstance(step, ActivityStep), "gates are rejected before a local run"
        self._emit(
            "step_started",
            step=step.id,
            phase=phase.name,
            fn=step.fn,
            args=_args_to_json(step.args),
        )
        started = time.monotonic()
        profile = step.profile if isinstance(step, ActivityStep) else None
        assert isinstance(profile, Profile), "steps are resolved by chant.plan before a run"
        defn = self.registry.get(step.fn)
        args = resolve_secrets(step.args, self.secrets) if self.secrets else step.args
        try:
            while True:
                rec.attempts += 1
                try:
                    if defn is None:
                        raise UnknownActivityError(f'no activity named "{step.fn}" is registered')
                    result = await self._attempt(defn, args, step, profile, rec.attempts)
                    if step.outcome is not None:
                        value = pick(result, step.outcome.path, step.outcome.name)
                        rec.outcome = {"name": step.outcome.name, "value": value}
                    rec.result, rec.status = result, "ok"
                    break
                except (TimeoutError, Exception) as exc:
                    rec.error = _error(exc)
                    non_retryable = isinstance(exc, ActivityError) and exc.non_retryable
                    if self._halted(compensation) or not may_retry(
                        profile.retry, rec.attempts, rec.error["type"], non_retryable
                    ):
                        rec.status = "failed"
                        break
                delay = retry_delay(profile.retry, rec.attempts)
                self._emit(
                    "step_retrying",
                    step=step.id,
                    attempt=rec.attempts,
                    max_attempts=profile.retry.max_attempts,
                    error=rec.error,
                    delay_ms=round(delay * 1000),
                )
                await self.sleep(delay)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            why = self._why.get(task) if task else None
            if why is None or task is None:
                raise
            task.uncancel()
            rec.status = "cancelled"
            rec.error = {"type": "Cancelled", "message": why}
        finally:
            rec.duration_ms = round((time.monotonic() - started) * 1000)
            if rec.status == "running":  # an unexpected cancellation from outside
                rec.status = "cancelled"
            self._finished(rec)
        return rec

    async def _attempt(
        self,
        defn: ActivityDef,
        args: Mapping[str, JSON],
        step: ActivityStep,
        profile: Profile,
        attempt: int,
    ) -> JSON:
        timeout = parse_duration(profile.timeout)
        beat = parse_duration(profile.heartbeat_timeout) if profile.heartbeat_timeout else None
        step_id = str(step.id)
        emit = self._emit

        def output(line: str, stream: str) -> None:
            emit("step_output", step=step_id, stream=stream, line=line)

        ctx = ActivityContext(
            step_id=step_id,
            attempt=attempt,
            output=output,
            heartbeat_interval=beat / 2 if beat else None,
            kill_grace=self.kill_grace,
        )
        task = asyncio.ensure_future(defn.invoke(args, ctx))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                wake = deadline if beat is None else min(deadline, ctx.last_heartbeat + beat)
                done, _ = await asyncio.wait({task}, timeout=max(0.0, wake - loop.time()))
                if done:
                    return task.result()
                now = loop.time()
                if now >= deadline:
                    raise ActivityTimeoutError(
                        f"attempt {attempt} timed out after {profile.timeout} "
                        f"(start-to-close timeout of profile {profile.name or 'inline'})"
                    )
                if beat is not None and now >= ctx.last_heartbeat + beat:
                    raise HeartbeatTimeoutError(
                        f"attempt {attempt} sent no heartbeat for {profile.heartbeat_timeout}"
                    )
        finally:
            if not task.done():
                ctx.cancelled.set()
                task.cancel()
                await asyncio.shield(asyncio.wait({task}))
