"""The behaviours of ``chant.testing``'s fake activities and gates.

Import them from ``chant.testing``; see docs/testing.md.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chant.errors import ActivityError
from chant.ir import JSON

if TYPE_CHECKING:
    from chant.activities.registry import ActivityContext

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
    stop: Callable[[], object] | None = field(default=None, compare=False, repr=False)

    def output(self, line: str, stream: str = "stdout") -> None:
        """Emit a line of the step's output (a ``step_output`` event), as a command would."""
        if self.ctx is not None:
            self.ctx.output(line, stream)

    def interrupt(self) -> None:
        """Interrupt the run now, as Ctrl-C does: the running steps are cancelled (this
        one too, at its next ``await``), then ``on_failure`` runs; a second call skips it."""
        if self.stop is not None:
            self.stop()


Attempt = Callable[[Call], Awaitable[object]]
"""One attempt's play: the result (JSON, as a run checks) or an exception."""


@dataclass(frozen=True)
class Script:
    """What a fake does at each attempt: attempt n plays ``attempts[n - 1]``, and every
    attempt after the last plays the last one."""

    attempts: tuple[Attempt, ...]

    async def play(self, call: Call) -> object:
        return await self.attempts[min(call.attempt, len(self.attempts)) - 1](call)


def returns(value: object = None, *, output: Iterable[str] = ()) -> Script:
    """Succeed with ``value``, after emitting each line of ``output`` as stdout."""
    lines = tuple(output)

    async def attempt(call: Call) -> object:
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

    async def attempt(call: Call) -> object:
        raise ActivityError(message, type=type, non_retryable=non_retryable)

    return Script((attempt,))


def fails(times: int, *, error: object = None, then: object = None) -> Script:
    """Fail the first ``times`` attempts with ``error`` (default: ``raises()``), then
    behave as ``then`` (default: an unscripted success)."""
    failure = as_script(raises() if error is None else error)
    after = as_script(then) if then is not None else Script((unscripted_result,))
    return Script(failure.attempts[:1] * times + after.attempts)


def hangs() -> Script:
    """Never return: the attempt runs until something stops it (a ``fail_fast``
    sibling, an interruption). Its profile's timeout is real time, so use it only where
    the run stops it."""

    async def attempt(call: Call) -> object:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    return Script((attempt,))


def interrupts() -> Script:
    """Interrupt the run during this attempt, as Ctrl-C would (``Call.interrupt``): the
    step is ``cancelled``, ``on_failure`` runs, and the run ends ``interrupted``."""

    async def attempt(call: Call) -> object:
        call.interrupt()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    return Script((attempt,))


def sequence(*behaviours: object) -> Script:
    """One behaviour per attempt, in order; the last one plays for every later attempt."""
    if not behaviours:
        raise ValueError("sequence() needs at least one behaviour")
    return Script(tuple(a for b in behaviours for a in as_script(b).attempts))


def as_script(behaviour: object) -> Script:
    if isinstance(behaviour, Script):
        return behaviour
    if isinstance(behaviour, BaseException):
        error = behaviour

        async def fail(call: Call) -> object:
            raise error

        return Script((fail,))
    if callable(behaviour):
        handler = behaviour

        async def handle(call: Call) -> object:
            result = handler(call)
            return await result if inspect.isawaitable(result) else result

        return Script((handle,))
    return returns(behaviour)  # a result: a run checks it is JSON


async def unscripted_result(call: Call) -> object:
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
