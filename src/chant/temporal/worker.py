"""A Temporal worker for a project: the interpreter workflow and every activity.

Activities are served by one dynamic Temporal activity that looks the called name up
in the project's ``Registry`` — the built-ins, the project's ``@activity`` functions
and installed ``chant.activities`` — and runs one attempt through
``registry.run_attempt``, exactly as the local executor does. So a timed-out attempt
is stopped on the worker (its process group killed) instead of running on after the
server gave up on it, and a cancelled one is stopped before compensation starts
(activities are cancelled with ``WAIT_CANCELLATION_COMPLETED``).

Secrets are read from the worker's environment: the step's own, to run it, and every
other secret the Op declares (the workflow passes their names, never their values), to
mask them. Everything the activity sends back — output lines, the result, the error,
heartbeat details — is masked with all of them before it leaves the worker, so the
workflow's history holds no secret even when a step prints one it did not declare.
Output lines go back in the result, or by signal while a step runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from chant.activities import guard
from chant.activities.registry import ActivityContext, Registry, run_attempt
from chant.errors import ActivityError
from chant.events import Masker
from chant.ir import Profile, _args_from_json, iter_secrets
from chant.profiles import may_retry, parse_duration, retry_delay
from chant.secrets import resolve_secrets
from chant.temporal.workflow import KILL_GRACE, ChantOpWorkflow
from chant.walk import error_of

MAX_LINES = 400
"""Output lines kept per batch sent back (the newest); the payload limit is 2 MiB."""
MAX_BATCH_BYTES = 512 * 1024
"""Bytes of JSON the lines of one batch may take: a control character is 6 bytes of
JSON (``\\u0001``), an emoji 12, so 400 lines of 1,000 characters could pass 2 MiB."""
MAX_LINE = 1000
MAX_RESULT = 256 * 1024
"""Bytes of JSON a step's result may take in the workflow's history; a larger result
is replaced by a note and the tail of its JSON text."""
TICK = 1.0
"""Seconds between liveness heartbeats (and output flushes) of a running step."""


class _Context(ActivityContext):
    """An ``ActivityContext`` whose heartbeats (masked) also reach the Temporal server."""

    def heartbeat(self, details: Any = None) -> None:
        super().heartbeat(None if details is None else self.masker(details))
        with contextlib.suppress(Exception):
            activity.heartbeat(self.heartbeat_details)


class _Lines:
    """A step's output lines not yet sent back, masked and bounded."""

    def __init__(self, masker: Masker) -> None:
        self.mask = masker
        self.lines: list[list[str]] = []
        self.sizes: list[int] = []
        self.size = 0
        self.dropped = 0

    def add(self, line: str, stream: str) -> None:
        text = self.mask.text(line)[:MAX_LINE]
        self.lines.append([stream, text])
        size = len(json.dumps(text)) + 16  # as Temporal's converter writes it (ASCII)
        self.sizes.append(size)
        self.size += size
        over = 0
        while over < len(self.lines) - MAX_LINES or self.size > MAX_BATCH_BYTES:
            self.size -= self.sizes[over]
            over += 1
        if over:
            self.dropped += over
            del self.lines[:over], self.sizes[:over]

    def take(self) -> list[list[str]]:
        lines, self.lines, self.sizes, self.size = self.lines, [], [], 0
        if self.dropped:
            lines.insert(0, ["log", f"[{self.dropped} earlier lines not shown]"])
            self.dropped = 0
        return lines


def _bounded(result: Any) -> Any:
    text = json.dumps(result, default=str)
    if len(text) <= MAX_RESULT:
        return result
    return {
        "truncated": f"the result took {len(text)} bytes of JSON; only its last "
        f"{MAX_RESULT // 1024} KiB are kept",
        "tail": text[-MAX_RESULT:],
    }


def make_activity(registry: Registry) -> Any:
    """The dynamic activity serving every name in ``registry``."""

    @activity.defn(dynamic=True)
    async def chant_step(raw: Sequence[RawValue]) -> dict[str, Any]:
        info = activity.info()
        name = info.activity_type
        data = activity.payload_converter().from_payload(raw[0].payload, dict)
        step_id = str(data["step"])
        profile = Profile.from_dict(data["profile"])
        defn = registry.get(name)
        if defn is None:
            raise ApplicationError(
                f'no activity named "{name}" is registered on this worker '
                f"({os.uname().nodename}, pid {os.getpid()})",
                {
                    "attempt": info.attempt,
                    "error": {
                        "type": "UnknownActivityError",
                        "message": f'no activity named "{name}" is registered on this worker',
                    },
                },
                type="UnknownActivityError",
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        args = _args_from_json(data.get("args", {}))
        names = iter_secrets(args)
        missing = [n for n in names if not os.environ.get(n, "").strip()]
        if missing:
            message = (
                f"secret(s) {', '.join(missing)} not set in the environment of the worker on "
                f"{os.uname().nodename} (pid {os.getpid()})"
            )
            raise ApplicationError(
                message,
                {
                    "attempt": info.attempt,
                    "error": {"type": "SecretNotSetError", "message": message},
                },
                type="SecretNotSetError",
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        secrets = {n: os.environ[n] for n in names}
        # Runs started before the workflow passed the Op's secret names have none here.
        masker = Masker(
            [*secrets.values(), *(os.environ.get(str(n), "") for n in data.get("secrets", ()))]
        )
        lines = _Lines(masker)
        handle = activity.client().get_workflow_handle(
            str(info.workflow_id), run_id=info.workflow_run_id
        )
        lock = asyncio.Lock()

        async def flush(signal: str, extra: dict[str, Any] | None = None) -> None:
            batch = lines.take()
            if not batch and extra is None:
                return
            with contextlib.suppress(Exception):  # progress only: never fail the step
                await handle.signal(signal, {"step": step_id, "output": batch, **(extra or {})})

        async def tick() -> None:
            started = time.monotonic()
            while True:
                # Output goes back every second at first, then less often, so a long
                # chatty step does not fill the workflow's history.
                elapsed = time.monotonic() - started
                await asyncio.sleep(TICK if elapsed < 30 else min(15.0, elapsed / 10))
                activity.heartbeat(ctx.heartbeat_details)
                async with lock:
                    await flush("chant_output")

        beat = profile.heartbeat_timeout
        ctx = _Context(
            step_id=step_id,
            attempt=info.attempt,
            output=lines.add,
            heartbeat_interval=parse_duration(beat) / 2 if beat else None,
            kill_grace=KILL_GRACE,
            masker=masker,
        )
        ticker = asyncio.ensure_future(tick())
        try:
            result = await run_attempt(
                defn, resolve_secrets(args, secrets) if secrets else args, ctx, profile
            )
        except asyncio.CancelledError:
            # A stopping worker cancels its steps (their groups are killed by now); Temporal
            # retries them elsewhere while attempts are left, so say so, as for a failure.
            if activity.is_worker_shutdown() and may_retry(
                profile.retry, info.attempt, "WorkerStopped", False
            ):
                async with lock:
                    ticker.cancel()
                error = {"type": "WorkerStopped", "message": "the worker running it stopped"}
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(
                        flush(
                            "chant_retrying",
                            {
                                "attempt": info.attempt,
                                "max_attempts": profile.retry.max_attempts,
                                "error": error,
                                "delay_ms": round(retry_delay(profile.retry, info.attempt) * 1000),
                            },
                        ),
                        2.0,
                    )
            raise
        except BaseException as exc:  # SystemExit too: its text must not pass unmasked
            error = masker.fields(error_of(exc))
            non_retryable = isinstance(exc, ActivityError) and exc.non_retryable
            retrying = may_retry(profile.retry, info.attempt, error["type"], non_retryable)
            async with lock:
                ticker.cancel()
            if retrying:
                await flush(
                    "chant_retrying",
                    {
                        "attempt": info.attempt,
                        "max_attempts": profile.retry.max_attempts,
                        "error": error,
                        "delay_ms": round(retry_delay(profile.retry, info.attempt) * 1000),
                    },
                )
            raise ApplicationError(
                error["message"],
                {"attempt": info.attempt, "error": error, "output": lines.take()},
                type=error["type"],
                # chant decides, as locally: Temporal stops exactly when chant would.
                non_retryable=not retrying,
                # A failed step is reported by chant's own output; no worker traceback.
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        finally:
            async with lock:
                ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        return {"result": _bounded(masker(result)), "attempt": info.attempt, "output": lines.take()}

    return chant_step


def workflow_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox, with chant's own (pure) modules passed through to it."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("chant")
    )


def build_worker(
    client: Client,
    registry: Registry,
    *,
    task_queue: str,
    max_concurrent: int | None = None,
    identity: str | None = None,
) -> Worker:
    """A worker for ``task_queue`` running the interpreter workflow and ``registry``.

    It also starts the watchdog that stops this process's running commands should it
    be killed outright (``chant.activities.guard``); call ``guard.disable()`` after a
    clean shutdown."""
    guard.enable()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ChantOpWorkflow],
        activities=[make_activity(registry)],
        max_concurrent_activities=max_concurrent or 100,
        identity=identity,
        workflow_runner=workflow_runner(),
        # Cancellation reaches an activity only with a heartbeat's answer.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
        # When a worker dies, its cached workflows move on to another one quickly.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
        # On shutdown, running steps are cancelled at once (their process groups killed)
        # and Temporal retries them elsewhere.
        graceful_shutdown_timeout=timedelta(seconds=0),
    )
