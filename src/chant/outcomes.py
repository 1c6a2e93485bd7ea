"""How a step ended: the ``StepOutcome`` an executor returns, the ``Record`` the walk
keeps, and the mapping of a result and an error into them that both executors share.

(Named tuples and a slotted class rather than dataclasses: every ``chant run`` defines
them, and a dataclass costs about a millisecond to define.)"""

from __future__ import annotations

from typing import Any, NamedTuple

from chant.errors import ActivityError, OutcomeError
from chant.events import StepStatus
from chant.ir import JSON
from chant.planned import PlannedStep
from chant.refs import dig


class StepOutcome(NamedTuple):
    """How one step ended, as an executor reports it to the walk."""

    status: StepStatus
    """``ok`` or ``failed`` (cancellation arrives as ``CancelledError`` instead)."""
    attempts: int
    result: JSON = None
    outcome: dict[str, JSON] | None = None
    """``{"name": …, "value": …}`` when the step declares an outcome and succeeded."""
    error: dict[str, str] | None = None


class Record:
    """What the walk knows of one step, filled in as it runs."""

    __slots__ = (
        "attempts",
        "duration_ms",
        "error",
        "outcome",
        "reason",
        "result",
        "status",
        "step",
    )

    def __init__(
        self,
        step: PlannedStep,
        status: StepStatus = StepStatus.SKIPPED,
    ) -> None:
        self.step = step
        self.status = status
        self.attempts = 0
        self.duration_ms = 0
        self.outcome: dict[str, JSON] | None = None
        self.result: JSON = None
        self.error: dict[str, str] | None = None
        self.reason: str | None = None
        """Why a skipped step was skipped, when a condition decided it."""

    def shown(self) -> dict[str, Any]:
        """What a ``step_finished`` event and a ``StepResult`` both show, in that order."""
        return {
            "phase": self.step.phase,
            "fn": self.step.fn,
            "args": self.step.shown_args,
            "status": self.status,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            "error": self.error,
            "reason": self.reason,
        }


def pick(result: JSON, path: str | None, name: str) -> JSON:
    """The value at dot-path ``path`` in ``result`` (list items by index)."""
    if not path:
        return result
    found, value, missing = dig(result, path)
    if not found:
        raise OutcomeError(f'outcome "{name}": the result has no "{path}" (no "{missing}" there)')
    return value


def succeeded(step: PlannedStep, result: JSON, attempts: int) -> StepOutcome:
    """The outcome of a step whose attempt returned ``result``: ``ok`` with the declared
    outcome picked from it, or ``failed`` (``OutcomeError``) when its path is missing.
    Both executors end a successful attempt here."""
    if step.outcome is None:
        return StepOutcome(StepStatus.OK, attempts, result)
    try:
        value = pick(result, step.outcome.path, step.outcome.name)
    except OutcomeError as exc:
        return StepOutcome(StepStatus.FAILED, attempts, error=error_of(exc))
    return StepOutcome(StepStatus.OK, attempts, result, {"name": step.outcome.name, "value": value})


def error_of(exc: BaseException) -> dict[str, str]:
    """The ``{"type", "message"}`` of a failed attempt (unmasked: callers mask it)."""
    kind = exc.type if isinstance(exc, ActivityError) else type(exc).__name__
    try:
        message = exc.message if isinstance(exc, ActivityError) else str(exc)
    except Exception:  # an exception whose __str__ itself fails
        message = f"({kind}: its message cannot be shown)"
    return {"type": str(kind), "message": str(message)}
