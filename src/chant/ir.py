"""The Op IR: frozen, JSON-native data that both executors interpret.

``chant build`` writes ``Op.to_dict()`` to ``dist/ops/<name>.op.json``; ``Op.from_dict``
reads it back and rejects unknown or missing keys. Nothing here performs I/O, so the
Temporal workflow sandbox can import it. Fields named ``origin`` hold the ``file:line``
where a user declared the object; they help error messages and are never serialised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from chant.errors import IRError as IRError  # re-exported: chant.ir.IRError stays
from chant.irschema import (
    ACTIVITY,
    GATE,
    OP,
    OUTCOME,
    PHASE,
    PROFILE,
    RETRY,
    read_object,
)
from chant.irvalues import Arg as Arg
from chant.irvalues import Secret as Secret
from chant.irvalues import args_from_json as args_from_json
from chant.irvalues import args_to_json as args_to_json
from chant.irvalues import caller_origin as caller_origin
from chant.irvalues import iter_secrets as iter_secrets
from chant.jsontypes import JSON as JSON  # re-exported: chant.ir.JSON stays
from chant.refs import condition_ir, dynamic, to_ir

if TYPE_CHECKING:
    from chant.irparam import PARAM_TYPES as PARAM_TYPES
    from chant.irparam import REQUIRED as REQUIRED
    from chant.irparam import Param as Param
    from chant.irparam import param_type_name as param_type_name

SCHEMA_VERSION = 1


def __getattr__(name: str) -> object:
    # Parameters are imported on first use (chant.irparam): an Op without any does not
    # define their class.
    if name in ("PARAM_TYPES", "REQUIRED", "Param", "param_type_name"):
        from chant import irparam

        return getattr(irparam, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _default_origin(declared: Profile | Phase | Op) -> None:
    """From ``__post_init__``: unless given, ``declared.origin`` is where the user
    called the constructor."""
    if declared.origin is None:
        object.__setattr__(declared, "origin", caller_origin(3))


def _origin_field() -> Any:
    return field(default=None, compare=False, repr=False)


def _tuple(value: Any) -> Any:
    """A list or other iterable as a tuple; anything else (a string, a number, a dict)
    as it is, for validation to report with its place rather than a crash here."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        return value
    try:
        return tuple(value)
    except Exception:
        return value


@dataclass(frozen=True, kw_only=True)
class Retry:
    """A retry policy with Temporal's semantics."""

    max_attempts: int = 3
    """Attempts in all, including the first; 0 means unlimited. Default 3."""
    initial_interval: str = "1s"
    """Wait before the first retry (a duration string). Default ``1s``."""
    backoff_coefficient: float = 2.0
    """Each further retry waits this many times longer. Default 2.0."""
    maximum_interval: str | None = None
    """Cap on any wait; ``None`` means 100 × ``initial_interval``."""
    non_retryable_error_types: Sequence[str] = ()
    """Error type names (e.g. ``CommandFailedError``) that fail the step at once."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "non_retryable_error_types", _tuple(self.non_retryable_error_types)
        )

    def to_dict(self) -> dict[str, JSON]:
        return {
            "max_attempts": self.max_attempts,
            "initial_interval": self.initial_interval,
            "backoff_coefficient": self.backoff_coefficient,
            "maximum_interval": self.maximum_interval,
            "non_retryable_error_types": list(self.non_retryable_error_types),
        }

    @classmethod
    def from_dict(cls, data: JSON, path: str = "retry") -> Retry:
        d = read_object(data, path, RETRY)
        if "non_retryable_error_types" in d:
            d["non_retryable_error_types"] = tuple(d["non_retryable_error_types"])
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """How each attempt of a step is bounded and retried."""

    timeout: str = "5m"
    """Start-to-close timeout of one attempt. Default ``5m``."""
    heartbeat_timeout: str | None = None
    """Fail an attempt that goes this long without heartbeating; ``None`` disables."""
    retry: Retry = field(default_factory=Retry)
    """The retry policy; default ``Retry()``: 3 attempts, 1s first wait, doubling."""
    name: str | None = None
    """The profile's name when it came from the built-ins or ``chant.toml``."""
    origin: str | None = _origin_field()

    def __post_init__(self) -> None:
        _default_origin(self)

    def to_dict(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "timeout": self.timeout,
            "heartbeat_timeout": self.heartbeat_timeout,
            "retry": self.retry.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: JSON, path: str = "profile") -> Profile:
        d = read_object(data, path, PROFILE)
        if "retry" in d:
            d["retry"] = Retry.from_dict(d["retry"], f"{path}.retry")
        return cls(**d)


@dataclass(frozen=True)
class Outcome:
    """Publish a step's result (or the part at dot-path ``path``) as ``name=value``."""

    name: str
    path: str | None = None
    """Dot-path into the result, e.g. ``"stdout"`` or ``"items.0.id"``; None: whole result."""

    def to_dict(self) -> dict[str, JSON]:
        return {"name": self.name, "from": self.path}

    @classmethod
    def from_dict(cls, data: JSON, path: str = "outcome") -> Outcome:
        d = read_object(data, path, OUTCOME, required=("name",))
        return cls(d["name"], d.get("from"))


@dataclass(frozen=True, kw_only=True)
class ActivityStep:
    """Call registered activity ``fn`` with ``args``, bounded and retried per ``profile``."""

    fn: str
    args: Mapping[str, Arg] = field(default_factory=dict)
    """Keyword arguments; JSON values or ``Secret``. Never mutated."""
    id: str | None = None
    """Stable id; assigned at build as ``<phase-slug>.<n>`` (1-based) unless given."""
    profile: str | Profile | None = None
    """A profile name, an inline ``Profile``, or None for the activity's default."""
    outcome: Outcome | None = None
    when: JSON = None
    """A condition (``chant.refs``): the step runs only when it holds, else is skipped."""
    origin: str | None = _origin_field()

    def __post_init__(self) -> None:
        _declared(self)

    def to_dict(self) -> dict[str, JSON]:
        profile = self.profile.to_dict() if isinstance(self.profile, Profile) else self.profile
        data: dict[str, JSON] = {
            "kind": "activity",
            "id": self.id,
            "fn": self.fn,
            "args": args_to_json(self.args),
            "profile": profile,
            "outcome": self.outcome.to_dict() if self.outcome else None,
        }
        return _with_when(data, self.when)


def _declared(step: ActivityStep | GateStep | Phase) -> None:
    """From ``__post_init__``: references in arguments and ``when`` as IR data."""
    args = getattr(step, "args", None)
    if args is not None and dynamic(args):
        object.__setattr__(step, "args", to_ir(args))
    if step.when is not None:
        object.__setattr__(step, "when", condition_ir(step.when))


def _with_when(data: dict[str, JSON], when: JSON) -> dict[str, JSON]:
    """``data`` with ``when`` when the object has one: the IR of an Op without
    conditions is what it was before conditions existed."""
    if when is not None:
        data["when"] = args_to_json(when)
    return data


@dataclass(frozen=True, kw_only=True)
class GateStep:
    """Wait for signal ``signal`` (Temporal only), failing the Op after ``timeout``."""

    signal: str
    timeout: str = "48h"
    description: str = ""
    id: str | None = None
    when: JSON = None
    origin: str | None = _origin_field()

    def __post_init__(self) -> None:
        _declared(self)

    def to_dict(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {
            "kind": "gate",
            "id": self.id,
            "signal": self.signal,
            "timeout": self.timeout,
            "description": self.description,
        }
        return _with_when(data, self.when)


Step: TypeAlias = ActivityStep | GateStep


def step_from_dict(data: JSON, path: str) -> Step:
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind == "activity":
        d = read_object(data, path, ACTIVITY, required=("kind", "fn"))
        del d["kind"]
        if isinstance(d.get("profile"), Mapping):
            d["profile"] = Profile.from_dict(d["profile"], f"{path}.profile")
        if d.get("outcome") is not None:
            d["outcome"] = Outcome.from_dict(d["outcome"], f"{path}.outcome")
        d["args"] = args_from_json(d.get("args") or {}, f"{path}.args")
        return ActivityStep(**d)
    if kind == "gate":
        d = read_object(data, path, GATE, required=("kind", "signal"))
        del d["kind"]
        return GateStep(**d)
    raise IRError(f"{path}.kind: expected 'activity' or 'gate', got {kind!r}")


@dataclass(frozen=True, kw_only=True)
class Phase:
    """A named group of steps, run in order or (``parallel=True``) together."""

    name: str
    steps: Sequence[Step]
    parallel: bool = False
    fail_fast: bool = False
    """Parallel only: cancel running siblings on the first failure. Default False."""
    max_concurrency: int | None = None
    """Parallel only: at most this many steps at once. Default unbounded."""
    when: JSON = None
    """A condition (``chant.refs``): when it does not hold, every step is skipped."""
    origin: str | None = _origin_field()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _tuple(self.steps))
        _declared(self)
        _default_origin(self)

    def to_dict(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {
            "name": self.name,
            "steps": [s.to_dict() for s in self.steps],
            "parallel": self.parallel,
            "fail_fast": self.fail_fast,
            "max_concurrency": self.max_concurrency,
        }
        return _with_when(data, self.when)

    @classmethod
    def from_dict(cls, data: JSON, path: str) -> Phase:
        d = read_object(data, path, PHASE, required=("name", "steps"))
        d["steps"] = tuple(
            step_from_dict(s, f"{path}.steps[{i}]") for i, s in enumerate(d["steps"])
        )
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class Op:
    """A named, phased workflow. Every module-level ``Op`` in an ``*.op.py`` is discovered."""

    name: str
    """Kebab-case, unique in the project."""
    phases: Sequence[Phase]
    overview: str = ""
    on_failure: Sequence[Phase] = ()
    """Compensation phases, run in declared order when the Op fails."""
    depends: Sequence[str] = ()
    task_queue: str | None = None
    """Temporal task queue; None means the Temporal profile's."""
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    schedule: str | None = None
    """Cron string or interval (``every 1h``); Temporal only."""
    params: Mapping[str, Param] = field(default_factory=dict)
    """The Op's parameters by name; a run gives their values (``param("name")``)."""
    schedule_params: Mapping[str, JSON] = field(default_factory=dict)
    """The parameter values the Op's ``schedule`` runs it with (defaults fill the rest)."""
    schema_version: int = SCHEMA_VERSION
    origin: str | None = _origin_field()

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", _tuple(self.phases))
        object.__setattr__(self, "on_failure", _tuple(self.on_failure))
        object.__setattr__(self, "depends", _tuple(self.depends))
        _default_origin(self)

    def to_dict(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "overview": self.overview,
            "phases": [p.to_dict() for p in self.phases],
            "on_failure": [p.to_dict() for p in self.on_failure],
            "depends": list(self.depends),
            "task_queue": self.task_queue,
            "search_attributes": dict(self.search_attributes),
            "schedule": self.schedule,
        }
        if self.params:  # absent otherwise: the IR of an Op without parameters stays
            data["params"] = {k: p.to_dict() for k, p in self.params.items()}
        if self.schedule_params:
            data["schedule_params"] = dict(self.schedule_params)
        return data

    @classmethod
    def from_dict(cls, data: JSON) -> Op:
        d = read_object(data, "op", OP, required=("schema_version", "name", "phases"))
        if d["schema_version"] != SCHEMA_VERSION:
            raise IRError(
                f"op.schema_version: this chant reads version {SCHEMA_VERSION}, "
                f"got {d['schema_version']!r}; rebuild with `chant build`"
            )
        d["phases"] = tuple(
            Phase.from_dict(p, f"op.phases[{i}]") for i, p in enumerate(d["phases"])
        )
        d["on_failure"] = tuple(
            Phase.from_dict(p, f"op.on_failure[{i}]") for i, p in enumerate(d.get("on_failure", ()))
        )
        d["depends"] = tuple(d.get("depends", ()))
        if "params" in d:
            from chant.irparam import Param

            d["params"] = {
                k: Param.from_dict(v, f"op.params[{k!r}]") for k, v in d["params"].items()
            }
        return cls(origin="", **d)

    def all_phases(self) -> tuple[tuple[Phase, bool], ...]:
        """Every phase with a flag saying whether it is compensation (``on_failure``)."""
        return tuple((p, False) for p in self.phases) + tuple((p, True) for p in self.on_failure)
