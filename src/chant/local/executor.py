"""The in-process executor: walks a resolved Op with asyncio.

It gets the IR, a registry, secret values and sinks; it reads no files and no
environment. Every step runs as its own task so that a timeout, a fail-fast sibling
or Ctrl-C can stop exactly that step (and, through the activity, its process group).
The walk itself (phases, skipping, compensation, events) is ``chant.walk.Walker``;
this module adds attempts, retries and timeouts in this process.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from chant.activities.registry import ActivityContext, ActivityDef, Registry, run_attempt
from chant.errors import ActivityError, UnknownActivityError
from chant.events import EventType, Masker, Sink, StepStatus
from chant.ir import JSON
from chant.outcomes import StepOutcome, error_of, succeeded
from chant.planned import PlannedStep, Timing
from chant.secrets import resolve_args
from chant.walk import Walker

Sleep = Callable[[float], Awaitable[None]]


class LocalExecutor(Walker):
    """Runs one Op in this process. Call ``interrupt()`` on Ctrl-C / SIGTERM."""

    mode = "local"

    def __init__(
        self,
        registry: Registry,
        *,
        sinks: Iterable[Sink] = (),
        secrets: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        kill_grace: float = 2.0,
        run_id: str | None = None,
        params: Mapping[str, JSON] | None = None,
    ) -> None:
        self.secrets = dict(secrets or {})
        super().__init__(
            run_id=run_id or os.urandom(6).hex(),
            sinks=sinks,
            masker=Masker(self.secrets.values()),
            clock=time.monotonic,
            params=params,
        )
        self.registry = registry
        self.sleep = sleep
        self.kill_grace = kill_grace

    async def _execute(self, step: PlannedStep) -> StepOutcome:
        timing = step.timing
        assert timing is not None, "gates are rejected before a local run"
        defn = self.registry.get(step.fn)
        args = resolve_args(step.args, self.secrets) if self.secrets else step.shown_args
        attempt = 0
        while True:
            attempt += 1
            self.attempting(step.id, attempt)
            try:
                if defn is None:
                    raise UnknownActivityError(f'no activity named "{step.fn}" is registered')
                result = await self._attempt(defn, args, step, timing, attempt)
                # As a Temporal worker does: the run keeps only the masked result, so an
                # outcome's path is read from the same data in both modes.
                return succeeded(step, self.masker(result) if self.masker else result, attempt)
            except (TimeoutError, Exception) as exc:
                error = error_of(exc)
                non_retryable = isinstance(exc, ActivityError) and exc.non_retryable
                if self._halted(step.compensation) or not timing.retry.allows(
                    attempt, error["type"], non_retryable
                ):
                    return StepOutcome(StepStatus.FAILED, attempt, error=error)
            delay = timing.retry.delay(attempt)
            self._emit(
                EventType.STEP_RETRYING,
                step=step.id,
                attempt=attempt,
                max_attempts=timing.retry.max_attempts,
                error=error,
                delay_ms=round(delay * 1000),
            )
            await self.sleep(delay)

    async def _attempt(
        self,
        defn: ActivityDef,
        args: Mapping[str, JSON],
        step: PlannedStep,
        timing: Timing,
        attempt: int,
    ) -> JSON:
        beat = timing.heartbeat_timeout
        step_id = step.id
        emit = self._emit

        def output(line: str, stream: str) -> None:
            emit.output_lines(step_id, stream, [line])

        def output_lines(lines: list[str], stream: str) -> None:
            emit.output_lines(step_id, stream, lines)

        ctx = ActivityContext(
            step_id=step_id,
            attempt=attempt,
            output=output,
            output_lines=output_lines,
            heartbeat_interval=beat / 2 if beat else None,
            kill_grace=self.kill_grace,
            masker=self.masker,
            project=self.registry.project,
        )
        return await run_attempt(defn, args, ctx, timing)
