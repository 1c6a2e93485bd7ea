"""What a run did: the status enums of steps, phases and runs, and the ``RunResult`` of
``StepResult``s that ``chant run --json`` prints. Re-exported by ``chant.events``.

The enums are ``StrEnum``s: each member equals its string (``StepStatus.OK == "ok"``)
and is written as it in JSON, so typed code and JSON output agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chant.jsontypes import JSON, JSONObject


class StepStatus(StrEnum):
    """A step's status. ``running`` is only seen while it runs (``chant status``); a
    finished step is ``ok``, ``failed``, ``skipped`` or ``cancelled``."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    RUNNING = "running"


class PhaseStatus(StrEnum):
    """A finished phase's status: ``failed`` or ``cancelled`` if any step was, else
    ``ok`` if any step ran, else ``skipped``."""

    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """A finished run's status."""

    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What happened to one step. ``args`` are the IR's (secrets stay ``{"$secret": …}``)."""

    id: str
    phase: str
    fn: str
    args: JSONObject
    status: StepStatus
    """``ok``, ``failed``, ``skipped`` or ``cancelled`` (a string is taken as one)."""
    attempts: int
    duration_ms: int
    outcome: JSONObject | None = None
    """``{"name": …, "value": …}`` when the step declares an outcome and succeeded."""
    result: JSON = None
    error: Mapping[str, str] | None = None
    """``{"type": …, "message": …}`` when the step failed or was cancelled."""
    compensation: bool = False
    reason: str | None = None
    """Why a skipped step was skipped, when its (or its phase's) condition was false."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", StepStatus(self.status))

    def to_dict(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "phase": self.phase,
            "fn": self.fn,
            "args": dict(self.args),
            "status": self.status.value,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
            "outcome": dict(self.outcome) if self.outcome else None,
            "result": self.result,
            "error": dict(self.error) if self.error else None,
            "compensation": self.compensation,
            "reason": self.reason,
        }


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The record of one run: the document ``chant run --json`` prints."""

    op: str
    mode: str
    run_id: str
    ok: bool
    status: RunStatus
    """``ok``, ``failed`` or ``interrupted`` (a string is taken as one)."""
    duration_ms: int
    steps: tuple[StepResult, ...]
    failed_step: str | None = None
    error: Mapping[str, str] | None = None
    params: JSONObject | None = None
    """The parameter values the run had (defaults filled in); ``{}`` for an Op without
    parameters, None in a record made before parameters existed."""
    plan_digest: str | None = None
    """The digest of the run's plan (``chant plan`` shows the same for the same Op and
    values); None in a record made before digests existed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))

    def to_dict(self) -> dict[str, JSON]:
        return {
            "op": self.op,
            "mode": self.mode,
            "run_id": self.run_id,
            "ok": self.ok,
            "status": self.status.value,
            "duration_ms": self.duration_ms,
            "failed_step": self.failed_step,
            "error": dict(self.error) if self.error else None,
            "params": dict(self.params) if self.params is not None else None,
            "plan_digest": self.plan_digest,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """The inverse of ``to_dict`` (a Temporal run's record comes back as a dict)."""
        steps = tuple(StepResult(**s) for s in data["steps"])
        head = {k: v for k, v in data.items() if k != "steps"}
        return cls(steps=steps, **head)

    @property
    def outcomes(self) -> dict[str, JSON]:
        return {str(s.outcome["name"]): s.outcome["value"] for s in self.steps if s.outcome}
