"""The run event model shared by every renderer and both executors.

A run is an append-only stream of frozen ``Event``s. Every event carries ``v`` (the
event schema version), ``seq`` (1, 2, 3, … within the run), ``ts`` (ISO 8601 UTC),
``run_id``, ``op`` and ``type``; the rest is in ``data``:

- ``run_started``: mode, steps (count), params (the run's parameter values), plan_digest
  (``chant plan``'s digest of the run's plan)
- ``phase_started``: phase, parallel, compensation, skipped
- ``step_started``: step, phase, fn, args
- ``step_output``: step, stream (stdout | stderr | log), line
- ``step_retrying``: step, attempt (the one that failed), error, delay_ms
- ``step_finished``: step, phase, fn, args, status, attempts, duration_ms, outcome, error,
  reason (why a skipped step was skipped when a condition decided it, else null)
- ``phase_finished``: phase, status, duration_ms
- ``compensation_started``: reason
- ``run_finished``: ok, status (ok | failed | interrupted), duration_ms, failed_step, error

Secret values are masked as ``***`` before an event is made, so no sink can leak one.
The statuses and results (``StepStatus``, ``RunResult``, …) live in ``chant.results``
and are re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard, TypeVar

from chant.jsontypes import JSON, JSONObject, NotJSONError, to_json
from chant.results import PhaseStatus, RunResult, RunStatus, StepResult, StepStatus

__all__ = [
    "EVENT_VERSION",
    "MASK",
    "Emitter",
    "Event",
    "EventType",
    "Masker",
    "NotJSONError",
    "OutputLines",
    "PhaseStatus",
    "RunResult",
    "RunStatus",
    "Sink",
    "StepResult",
    "StepStatus",
    "secret_forms",
    "to_json",
]

EVENT_VERSION = 1
MASK = "***"


class EventType(StrEnum):
    """The ``type`` of an event; docs/cli.md lists each with its keys."""

    RUN_STARTED = "run_started"
    PHASE_STARTED = "phase_started"
    STEP_STARTED = "step_started"
    STEP_OUTPUT = "step_output"
    STEP_RETRYING = "step_retrying"
    STEP_FINISHED = "step_finished"
    PHASE_FINISHED = "phase_finished"
    COMPENSATION_STARTED = "compensation_started"
    RUN_FINISHED = "run_finished"


def event_type(value: str) -> EventType:
    """``value`` as an ``EventType``; a ``ValueError`` naming it if it is none."""
    try:
        return EventType(value)
    except ValueError:
        known = ", ".join(EventType)
        raise ValueError(f"unknown event type {value!r} (one of: {known})") from None


@dataclass(frozen=True)
class Event:
    type: EventType
    seq: int
    ts: str
    run_id: str
    op: str
    data: JSONObject
    v: int = EVENT_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.type, EventType):  # a type given as its string
            object.__setattr__(self, "type", event_type(self.type))

    def to_dict(self) -> dict[str, JSON]:
        return {
            "v": self.v,
            "type": self.type.value,
            "seq": self.seq,
            "ts": self.ts,
            "run_id": self.run_id,
            "op": self.op,
            **self.data,
        }

    @classmethod
    def from_dict(cls, data: JSONObject) -> Event:
        """The inverse of ``to_dict``; a ``ValueError`` for an unknown ``type`` or a head
        key of the wrong type."""
        d = dict(data)
        v, seq, type_, ts, run_id, op = (
            d.pop(k) for k in ("v", "seq", "type", "ts", "run_id", "op")
        )
        if not (_is_int(v) and _is_int(seq)):
            raise ValueError(f"an event's v and seq must be integers, got {v!r} and {seq!r}")
        if not (
            isinstance(type_, str)
            and isinstance(ts, str)
            and isinstance(run_id, str)
            and isinstance(op, str)
        ):
            raise ValueError(f"an event's type, ts, run_id and op must be strings: {data!r}")
        return cls(event_type(type_), seq, ts, run_id, op, data=d, v=v)


def _is_int(value: JSON) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


MIN_PART = 3
"""Characters a *part* of a secret (one line of a multi-line value) needs to be masked on
its own: shorter lines (``{``, ``}``, ``--``) would mask ordinary text everywhere. A
secret's whole value, stripped or not, is masked at any length."""


def secret_forms(value: str) -> set[str]:
    """Every string masked for the secret ``value``: the value as given; the value
    without surrounding whitespace (values read from files end with a newline, and
    output reaches chant line by line); and, for a multi-line value, each of its lines
    without surrounding whitespace when at least ``MIN_PART`` characters long (as GitHub
    Actions masks each line of a multi-line secret). A value with bytes that are not
    UTF-8 is also masked as output shows it, each such byte as U+FFFD. Empty strings
    are never masked."""
    # A value holding bytes that are not UTF-8 (the environment keeps them as
    # surrogates) reaches chant through a step's output decoded with U+FFFD for them.
    decoded = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if decoded != value:
        return secret_forms(decoded) | {value, value.strip()} - {""}
    forms = {value, value.strip()}
    lines = value.splitlines()
    if len(lines) > 1:
        forms.update(t for t in (line.strip() for line in lines) if len(t) >= MIN_PART)
    forms.discard("")
    return forms


_V = TypeVar("_V")

_CHOSEN = frozenset({"status", "stream", "mode"})
"""Fields whose value chant picks from a fixed few (``ok``, ``stdout``, ``local``): never
a user's text, and never masked, so that a secret like ``ok`` cannot break a renderer."""


class Masker:
    """Replaces every secret in strings with ``***``: in values and keys, recursively in
    containers; see ``secret_forms`` for what counts as a secret's text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        # A blank value is no secret (chant refuses one); masking it would mask spaces.
        forms = {f for v in values if v.strip() for f in secret_forms(v)}
        # Longest first, so a secret containing another is masked whole.
        self.values = sorted(forms, key=lambda v: (-len(v), v))

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def longest(self) -> int:
        """The length of the longest secret (0 without secrets): how much text a stream
        must hold back before cutting it, so that no cut splits a secret."""
        return len(self.values[0]) if self.values else 0

    def text(self, s: str) -> str:
        """``s`` with every character of every occurrence of a secret replaced: where
        occurrences overlap (``abcd`` and ``cdef`` in ``abcdef``), their union is one
        ``***``, so no part of either is left in clear."""
        spans: list[tuple[int, int]] = []
        for v in self.values:
            start = s.find(v)
            while start != -1:
                spans.append((start, start + len(v)))
                start = s.find(v, start + 1)
        if not spans:
            return s
        spans.sort()
        out, pos = [], 0
        merged_start, merged_end = spans[0]
        for a, b in spans[1:]:
            if a <= merged_end:
                merged_end = max(merged_end, b)
                continue
            out += [s[pos:merged_start], MASK]
            pos, (merged_start, merged_end) = merged_end, (a, b)
        out += [s[pos:merged_start], MASK, s[merged_end:]]
        return "".join(out)

    def fields(self, record: Mapping[str, _V]) -> dict[str, _V]:
        """A record of chant's own (an event's data, an error, an outcome) masked: its
        keys, and the keys of the mappings it holds, are chant's field names and stay
        as they are, so that even a secret such as ``a`` or ``line`` cannot break the
        record's shape; every value is masked, and the user's data deeper down (a
        result, an outcome's value) has its keys masked too."""
        if not self.values:
            return dict(record)
        # Masking keeps JSON's shape, so a value keeps its type (a str stays a str).
        masked: dict[str, Any] = {
            k: v
            if k in _CHOSEN
            else {k2: self(v2) for k2, v2 in v.items()}
            if isinstance(v, Mapping)
            else self(v)
            for k, v in record.items()
        }
        return masked

    def __call__(self, value: Any) -> Any:
        """``value`` with secrets masked. JSON data keeps its shape (keys are masked
        too); anything else becomes JSON first, as ``to_json`` would convert it, or, if
        it cannot be, its ``str``, so that no renderer's fallback can show a secret."""
        if not self.values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            masked: dict[Any, Any] = {}
            for k, v in value.items():
                key = self(k) if isinstance(k, str) else k
                while key in masked:  # two keys masked alike: keep both
                    key = f"{key}'"
                masked[key] = self(v)
            return masked
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        try:
            converted = to_json(value)
        except NotJSONError:
            return self.text(str(value))
        return self(converted)


Sink = Callable[[Event], None]


class OutputLines:
    """The ``step_output`` events of one chunk of a step's output, in one piece: lines
    of one step and stream, numbered from ``seq`` on, all stamped ``ts``, masked. A
    sink with an ``output_lines`` method gets this instead of one ``Event`` per line
    (see ``Emitter.output_lines``); ``events()`` are the events it stands for."""

    __slots__ = ("lines", "op", "run_id", "seq", "step", "stream", "ts")

    def __init__(
        self,
        *,
        seq: int,
        ts: str,
        run_id: str,
        op: str,
        step: JSON,
        stream: str,
        lines: Sequence[JSON],
    ) -> None:
        self.seq, self.ts, self.run_id, self.op = seq, ts, run_id, op
        self.step, self.stream, self.lines = step, stream, lines

    def events(self) -> Iterator[Event]:
        kind, step, stream = EventType.STEP_OUTPUT, self.step, self.stream
        for seq, line in enumerate(self.lines, self.seq):
            data: JSONObject = {"step": step, "stream": stream, "line": line}
            yield Event(kind, seq, self.ts, self.run_id, self.op, data)


_stamp: list[Any] = [None, ""]
"""The last timestamp made: its millisecond and its text."""


def _now_iso() -> str:
    # time.strftime rather than datetime: one less import on the start-up path. The text
    # is made once per millisecond (a step's output can be many lines a millisecond).
    ms = int(time.time() * 1000)
    if ms != _stamp[0]:
        seconds, frac = divmod(ms, 1000)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:03d}Z"
        _stamp[:] = ms, text
    return str(_stamp[1])


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
        self.batch_sinks: tuple[tuple[Sink, Callable[[OutputLines], None] | None], ...] = tuple(
            (sink, getattr(sink, "output_lines", None)) for sink in self.sinks
        )

    def __call__(self, type_: EventType | str, **data: JSON) -> Event:
        """Make the next event of ``type_`` with ``data`` and hand it to every sink; a
        ``ValueError`` naming ``type_`` if it is no ``EventType`` (no number is used)."""
        # Event checks the type (and turns a string into an EventType) itself.
        event = Event(
            type_,  # type: ignore[arg-type]
            self.seq + 1,
            self.now(),
            self.run_id,
            self.op,
            self.mask.fields(data) if self.mask else data,
        )
        self.seq += 1
        for sink in self.sinks:
            sink(event)
        return event

    def output_lines(self, step: str, stream: str, lines: Sequence[JSON]) -> None:
        """One ``step_output`` event per line of ``lines`` (of ``step``'s ``stream``),
        numbered in order and stamped with one time, masked as ``__call__`` masks each:
        a sink with an ``output_lines`` method gets them in one ``OutputLines``, any
        other sink one ``Event`` per line."""
        if not lines:
            return
        mask, shown = self.mask, step
        if mask:  # exactly as Masker.fields masks {"step", "stream", "line"}
            text, fields = mask.text, mask.fields
            shown = fields({"step": step})["step"]
            lines = [
                text(line) if type(line) is str else fields({"line": line})["line"]
                for line in lines
            ]
        batch = OutputLines(
            seq=self.seq + 1,
            ts=self.now(),
            run_id=self.run_id,
            op=self.op,
            step=shown,
            stream=stream,
            lines=lines,
        )
        self.seq += len(lines)
        for sink, output_lines in self.batch_sinks:
            if output_lines is not None:
                output_lines(batch)
            else:
                for event in batch.events():
                    sink(event)
