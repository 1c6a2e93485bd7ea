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

    def fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record of chant's own (an event's data, an error, an outcome) masked: its
        keys, and the keys of the mappings it holds, are chant's field names and stay
        as they are, so that even a secret such as ``a`` or ``line`` cannot break the
        record's shape; every value is masked, and the user's data deeper down (a
        result, an outcome's value) has its keys masked too."""
        if not self.values:
            return dict(record)
        return {
            k: v
            if k in _CHOSEN
            else {k2: self(v2) for k2, v2 in v.items()}
            if isinstance(v, Mapping)
            else self(v)
            for k, v in record.items()
        }

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


class NotJSONError(TypeError):
    """A value that ``to_json`` does not convert; ``path`` says where it is."""

    def __init__(self, value: Any, path: str, why: str = "") -> None:
        self.type_name = type(value).__name__
        self.path = path
        self.why = why or f"a {self.type_name}, which is not JSON"
        self.where = path if len(path) <= 80 else f"…{path[-60:]}"
        """``path``, shortened to its end when long."""
        super().__init__(f"{self.where or 'the value'} is {self.why}")


MAX_DEPTH = 100
"""How deeply ``to_json`` follows nested containers; deeper data is refused (a container
that holds itself is refused at once)."""


def to_json(value: Any, path: str = "") -> Any:
    """``value`` as JSON data (str, int, float, bool, None, lists, dicts with str keys).

    Converted, as Temporal's and Python's JSON encoders would or as a reader expects:
    tuples → lists; sets and frozensets → lists sorted by their JSON text; ``bytes``
    (and ``bytearray``, ``memoryview``) → UTF-8 text, undecodable bytes as U+FFFD;
    paths (``os.PathLike``) → their text; other mappings → dicts; dict keys that are
    int, float, bool or None → their JSON text (``1``, ``true``, ``null``), bytes keys →
    text; subclasses of str, int and float → the plain type. Anything else (a
    ``datetime``, a ``Decimal``, a dataclass, an object of a user's class, a key that
    is a tuple, a container that holds itself) raises ``NotJSONError`` naming the type
    and where it is (``path``, e.g. ``["items"][2]``)."""
    return _json(value, path, 0, set())


def _container(value: Any, path: str, depth: int, seen: set[int]) -> Any:
    # Plain values (most of any result) are kept as they are without a call; the path
    # of a nested value is only spelled out for one that needs converting.
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k if type(k) is str else _key(k, path)
            out[key] = (
                v
                if v is None or type(v) in _PLAIN
                else _json(v, f"{path}[{key!r}]", depth + 1, seen)
            )
        return out
    if isinstance(value, list | tuple):
        return [
            v if v is None or type(v) in _PLAIN else _json(v, f"{path}[{i}]", depth + 1, seen)
            for i, v in enumerate(value)
        ]
    import json

    items = [_json(v, f"{path}{{…}}", depth + 1, seen) for v in value]
    return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))


_PLAIN = frozenset((str, int, float, bool))


def _json(value: Any, path: str, depth: int, seen: set[int]) -> Any:
    if value is None or type(value) in _PLAIN:
        return value
    if depth > MAX_DEPTH:
        raise NotJSONError(value, path, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        if id(value) in seen:
            raise NotJSONError(value, path, f"a {type(value).__name__} that contains itself")
        seen.add(id(value))
        try:
            return _container(value, path, depth, seen)
        finally:
            seen.discard(id(value))
    fspath = getattr(value, "__fspath__", None)
    if fspath is not None:
        name = fspath()
        return name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name)
    raise NotJSONError(value, path)


def _key(key: Any, path: str) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int | float):
        import json

        return json.dumps(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", errors="replace")
    raise NotJSONError(
        key, path, f"a dict with a key of type {type(key).__name__}, which is not JSON"
    )


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
            data=self.mask.fields(data) if self.mask else data,
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
