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
from chant.events import Masker, Sink
from chant.ir import JSON, ActivityStep, Profile, Step
from chant.profiles import may_retry, parse_duration, retry_delay
from chant.secrets import resolve_secrets
from chant.walk import Record, Walker, error_of, pick

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
    ) -> None:
        self.secrets = dict(secrets or {})
        super().__init__(
            run_id=run_id or os.urandom(6).hex(),
            sinks=sinks,
            masker=Masker(self.secrets.values()),
            clock=time.monotonic,
        )
        self.registry = registry
        self.sleep = sleep
        self.kill_grace = kill_grace

    async def _execute(self, step: Step, rec: Record, compensation: bool) -> None:
        assert isinstance(step, ActivityStep), "gates are rejected before a local run"
        profile = step.profile
        assert isinstance(profile, Profile), "steps are resolved by chant.plan before a run"
        defn = self.registry.get(step.fn)
        args = resolve_secrets(step.args, self.secrets) if self.secrets else step.args
        while True:
            rec.attempts += 1
            try:
                if defn is None:
                    raise UnknownActivityError(f'no activity named "{step.fn}" is registered')
                result = await self._attempt(defn, args, step, profile, rec.attempts)
                if self.masker:
                    # As a Temporal worker does: the run keeps only the masked result, so
                    # an outcome's path is read from the same data in both modes.
                    result = self.masker(result)
                if step.outcome is not None:
                    value = pick(result, step.outcome.path, step.outcome.name)
                    rec.outcome = {"name": step.outcome.name, "value": value}
                rec.result, rec.status, rec.error = result, "ok", None
                return
            except (TimeoutError, Exception) as exc:
                rec.error = error_of(exc)
                non_retryable = isinstance(exc, ActivityError) and exc.non_retryable
                if self._halted(compensation) or not may_retry(
                    profile.retry, rec.attempts, rec.error["type"], non_retryable
                ):
                    rec.status = "failed"
                    return
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

    async def _attempt(
        self,
        defn: ActivityDef,
        args: Mapping[str, JSON],
        step: ActivityStep,
        profile: Profile,
        attempt: int,
    ) -> JSON:
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
            masker=self.masker,
        )
        return await run_attempt(defn, args, ctx, profile)
