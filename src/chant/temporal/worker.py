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
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, cast

from temporalio import activity
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from chant.activities import guard
from chant.activities.registry import ActivityContext, ActivityDef, Registry, run_attempt
from chant.errors import ActivityError, ErrorType
from chant.events import Masker
from chant.ir import Profile, args_from_json, iter_secrets
from chant.jsontypes import JSON, JSONObject
from chant.outcomes import error_of
from chant.planned import Timing
from chant.secrets import resolve_secrets
from chant.temporal.walker import KILL_GRACE
from chant.temporal.workflow import ChantOpWorkflow

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

    def heartbeat(self, details: JSON = None) -> None:
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


def _bounded(result: JSON) -> JSON:
    text = json.dumps(result, default=str)
    if len(text) <= MAX_RESULT:
        return result
    return {
        "truncated": f"the result took {len(text)} bytes of JSON; only its last "
        f"{MAX_RESULT // 1024} KiB are kept",
        "tail": text[-MAX_RESULT:],
    }


class _Attempt:
    """One attempt of a step on this worker, from the workflow's payload to the result or
    the ``ApplicationError`` Temporal records: decode, read secrets, build the context,
    heartbeat and send output while it runs, and map how it ended."""

    def __init__(self, registry: Registry, raw: Sequence[RawValue]) -> None:
        self.info = info = activity.info()
        data = activity.payload_converter().from_payload(raw[0].payload, dict)
        self.step_id = str(data["step"])
        self.timing = Timing.of(Profile.from_dict(data["profile"]))
        self.defn = self._lookup(registry, info.activity_type)
        self.args = args_from_json(data.get("args", {}))
        self.secrets = self._read_secrets()
        # Runs started before the workflow passed the Op's secret names have none here.
        others = (os.environ.get(str(n), "") for n in data.get("secrets", ()))
        self.masker = Masker([*self.secrets.values(), *others])
        self.lines = _Lines(self.masker)
        self.handle = activity.client().get_workflow_handle(
            str(info.workflow_id), run_id=info.workflow_run_id
        )
        self.lock = asyncio.Lock()
        beat = self.timing.heartbeat_timeout
        self.ctx = _Context(
            step_id=self.step_id,
            attempt=info.attempt,
            output=self.lines.add,
            heartbeat_interval=beat / 2 if beat else None,
            kill_grace=KILL_GRACE,
            masker=self.masker,
            project=registry.project,
        )

    def _refuse(self, message: str, error: dict[str, str]) -> ApplicationError:
        """A failure chant itself finds before the step starts: never retried."""
        return ApplicationError(
            message,
            {"attempt": self.info.attempt, "error": error},
            type=error["type"],
            non_retryable=True,
            category=ApplicationErrorCategory.BENIGN,
        )

    def _lookup(self, registry: Registry, name: str) -> ActivityDef:
        defn = registry.get(name)
        if defn is None:
            message = f'no activity named "{name}" is registered on this worker'
            raise self._refuse(
                f"{message} ({os.uname().nodename}, pid {os.getpid()})",
                {"type": ErrorType.UNKNOWN_ACTIVITY, "message": message},
            )
        return defn

    def _read_secrets(self) -> dict[str, str]:
        names = iter_secrets(self.args)
        missing = [n for n in names if not os.environ.get(n, "").strip()]
        if missing:
            message = (
                f"secret(s) {', '.join(missing)} not set in the environment of the worker on "
                f"{os.uname().nodename} (pid {os.getpid()})"
            )
            raise self._refuse(message, {"type": ErrorType.SECRET_NOT_SET, "message": message})
        return {n: os.environ[n] for n in names}

    async def run(self) -> dict[str, Any]:
        """Run the attempt; its result, or ``ApplicationError`` saying how it failed."""
        ticker = asyncio.ensure_future(self._tick())
        try:
            args = resolve_secrets(self.args, self.secrets) if self.secrets else self.args
            # The IR reader made args an object: a step's args are keyword arguments.
            result = await run_attempt(self.defn, cast(JSONObject, args), self.ctx, self.timing)
        except asyncio.CancelledError:
            await self._stopped(ticker)
            raise
        except BaseException as exc:  # SystemExit too: its text must not pass unmasked
            raise await self._failed(exc, ticker) from None
        finally:
            async with self.lock:
                ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        return {
            "result": _bounded(self.masker(result)),
            "attempt": self.info.attempt,
            "output": self.lines.take(),
        }

    async def _flush(self, signal: str, extra: dict[str, Any] | None = None) -> None:
        batch = self.lines.take()
        if not batch and extra is None:
            return
        with contextlib.suppress(Exception):  # progress only: never fail the step
            await self.handle.signal(
                signal, {"step": self.step_id, "output": batch, **(extra or {})}
            )

    async def _tick(self) -> None:
        started = time.monotonic()
        while True:
            # Output goes back every second at first, then less often, so a long
            # chatty step does not fill the workflow's history.
            elapsed = time.monotonic() - started
            await asyncio.sleep(TICK if elapsed < 30 else min(15.0, elapsed / 10))
            activity.heartbeat(self.ctx.heartbeat_details)
            async with self.lock:
                await self._flush("chant_output")

    def _retrying(self, error: dict[str, str]) -> dict[str, Any]:
        """What the ``chant_retrying`` signal says of a failed attempt."""
        retry = self.timing.retry
        return {
            "attempt": self.info.attempt,
            "max_attempts": retry.max_attempts,
            "error": error,
            "delay_ms": round(retry.delay(self.info.attempt) * 1000),
        }

    async def _stopped(self, ticker: asyncio.Future[None]) -> None:
        """A stopping worker cancels its steps (their groups are killed by now); Temporal
        retries them elsewhere while attempts are left, so say so, as for a failure."""
        if not activity.is_worker_shutdown() or not self.timing.retry.allows(
            self.info.attempt, ErrorType.WORKER_STOPPED, False
        ):
            return
        async with self.lock:
            ticker.cancel()
        error = {"type": ErrorType.WORKER_STOPPED, "message": "the worker running it stopped"}
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self._flush("chant_retrying", self._retrying(error)), 2.0)

    async def _failed(self, exc: BaseException, ticker: asyncio.Future[None]) -> ApplicationError:
        """The ``ApplicationError`` for an attempt that raised ``exc`` (masked); a
        ``chant_retrying`` signal first when chant will try again."""
        error = self.masker.fields(error_of(exc))
        non_retryable = isinstance(exc, ActivityError) and exc.non_retryable
        retrying = self.timing.retry.allows(self.info.attempt, error["type"], non_retryable)
        async with self.lock:
            ticker.cancel()
        if retrying:
            await self._flush("chant_retrying", self._retrying(error))
        return ApplicationError(
            error["message"],
            {"attempt": self.info.attempt, "error": error, "output": self.lines.take()},
            type=error["type"],
            # chant decides, as locally: Temporal stops exactly when chant would.
            non_retryable=not retrying,
            # A failed step is reported by chant's own output; no worker traceback.
            category=ApplicationErrorCategory.BENIGN,
        )


def make_activity(registry: Registry) -> Callable[[Sequence[RawValue]], Awaitable[object]]:
    """The dynamic activity serving every name in ``registry``."""

    @activity.defn(dynamic=True)
    async def chant_step(raw: Sequence[RawValue]) -> dict[str, Any]:
        return await _Attempt(registry, raw).run()

    return chant_step


PASSTHROUGH = (
    "chant._version",
    "chant.argcheck",
    "chant.builders",
    "chant.errors",
    "chant.events",
    "chant.flowcheck",
    "chant.ir",
    "chant.irschema",
    "chant.irparam",
    "chant.irvalues",
    "chant.jsontypes",
    "chant.names",
    "chant.params",
    "chant.plan",
    "chant.planned",
    "chant.profiles",
    "chant.refs",
    "chant.resolver",
    "chant.results",
    "chant.secrets",
    "chant.shapes",
)
"""The chant modules the sandbox shares with the worker instead of importing them again
for each workflow run: plain data types (the IR, the plan, events, errors) and the pure
functions that check and resolve an Op, all costly to import (dataclasses, enums). Each
one's chant imports are in the list too, so that no class exists twice. The modules
that hold the workflow's own code (``chant.temporal.workflow``, its walker, the walk,
step outcomes) and the ``chant`` package are imported inside the sandbox for each run,
so the sandbox checks them (no I/O, clock or randomness); ``tests/temporal/
test_sandbox.py`` replays recorded runs with nothing passed through, checking these too."""


def workflow_runner(passthrough: tuple[str, ...] = PASSTHROUGH) -> SandboxedWorkflowRunner:
    """Temporal's sandbox, passing through only ``passthrough`` of chant's modules."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*passthrough)
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
