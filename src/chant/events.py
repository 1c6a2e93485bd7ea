"""The run event model shared by every renderer and both executors.

A run is an append-only stream of frozen ``Event``s. Every event carries ``v`` (the
event schema version), ``seq`` (1, 2, 3, … within the run), ``ts`` (ISO 8601 UTC),
``run_id``, ``op`` and ``type``; the rest is in ``data``:

- ``run_started``: mode, steps (count)
- ``phase_started``: phase, parallel, compensation, skipped
- ``step_started``: step, phase, fn, args
- ``step_output``: step, stream (stdout | stderr | log), line
- ``step_retrying``: step, attempt (the one that failed), error, delay_ms
- ``step_finished``: step, phase, fn, args, status, attempts, duration_ms, outcome, error
- ``phase_finished``: phase, status, duration_ms
- ``compensation_started``: reason
- ``run_finished``: ok, status (ok | failed | interrupted), duration_ms, failed_step, error

Secret values are masked as ``***`` before an event is made, so no sink can leak one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EVENT_VERSION = 1
MASK = "***"


@dataclass(frozen=True)
class Event:
    type: str
    seq: int
    ts: str
    run_id: str
    op: str
    data: Mapping[str, Any]
    v: int = EVENT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "type": self.type,
            "seq": self.seq,
            "ts": self.ts,
            "run_id": self.run_id,
            "op": self.op,
            **self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        d = dict(data)
        head = {k: d.pop(k) for k in ("v", "type", "seq", "ts", "run_id", "op")}
        return cls(data=d, **head)


class Masker:
    """Replaces every secret value in strings (recursively in containers) with ``***``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.values = sorted({v for v in values if v}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def longest(self) -> int:
        """The length of the longest secret (0 without secrets): how much text a stream
        must hold back before cutting it, so that no cut splits a secret."""
        return len(self.values[0]) if self.values else 0

    def text(self, s: str) -> str:
        for v in self.values:
            if v in s:
                s = s.replace(v, MASK)
        return s

    def __call__(self, value: Any) -> Any:
        if not self.values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


Sink = Callable[[Event], None]


def _now_iso() -> str:
    # time.strftime rather than datetime: one less import on the start-up path.
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class Emitter:
    """Numbers, stamps and masks events, then hands them to ``sinks`` in order."""

    def __init__(
        self,
        *,
        op: str,
        run_id: str,
        sinks: Iterable[Sink],
        masker: Masker,
        now: Callable[[], str] | None = None,
    ) -> None:
        self.op = op
        self.run_id = run_id
        self.sinks = tuple(sinks)
        self.mask = masker
        self.now = now or _now_iso
        self.seq = 0

    def __call__(self, type_: str, **data: Any) -> Event:
        self.seq += 1
        event = Event(
            type=type_,
            seq=self.seq,
            ts=self.now(),
            run_id=self.run_id,
            op=self.op,
            data=self.mask(data) if self.mask else data,
        )
        for sink in self.sinks:
            sink(event)
        return event


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What happened to one step. ``args`` are the IR's (secrets stay ``{"$secret": …}``)."""

    id: str
    phase: str
    fn: str
    args: Mapping[str, Any]
    status: str
    """One of ``ok``, ``failed``, ``skipped``, ``cancelled``."""
    attempts: int
    duration_ms: int
    outcome: Mapping[str, Any] | None = None
    """``{"name": …, "value": …}`` when the step declares an outcome and succeeded."""
    result: Any = None
    error: Mapping[str, str] | None = None
    """``{"type": …, "message": …}`` when the step failed or was cancelled."""
    compensation: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phase": self.phase,
            "fn": self.fn,
            "args": dict(self.args),
            "status": self.status,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
            "outcome": dict(self.outcome) if self.outcome else None,
            "result": self.result,
            "error": dict(self.error) if self.error else None,
            "compensation": self.compensation,
        }


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The record of one run: the document ``chant run --json`` prints."""

    op: str
    mode: str
    run_id: str
    ok: bool
    status: str
    """``ok``, ``failed`` or ``interrupted``."""
    duration_ms: int
    steps: tuple[StepResult, ...]
    failed_step: str | None = None
    error: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "mode": self.mode,
            "run_id": self.run_id,
            "ok": self.ok,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "failed_step": self.failed_step,
            "error": dict(self.error) if self.error else None,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """The inverse of ``to_dict`` (a Temporal run's record comes back as a dict)."""
        steps = tuple(StepResult(**s) for s in data["steps"])
        head = {k: v for k, v in data.items() if k != "steps"}
        return cls(steps=steps, **head)

    @property
    def outcomes(self) -> dict[str, Any]:
        return {s.outcome["name"]: s.outcome["value"] for s in self.steps if s.outcome}
