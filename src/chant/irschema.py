"""The strict reader behind every IR ``from_dict``: each class lists its keys with the
JSON kind each must be (``null`` only where the field is optional), and an object is
read only if it has no unknown key, every required key, and every value of its kind.

Errors are ``IRError``s that name the path: ``op.phases[0].name: expected a string, got
null``. A value's type is named as Python names it (``str``, ``int``), but ``null``.
Nothing here performs I/O, so Temporal's workflow sandbox can import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chant.errors import IRError


class Kind:
    """What a value must be: an instance of one of ``types`` (``bool`` counts only where
    it is listed), described as ``what``; for a list, each item of kind ``each``; for an
    object, each value. (A plain class: a dataclass costs start-up time for nothing.)"""

    __slots__ = ("each", "types", "what")

    def __init__(self, types: tuple[type, ...], what: str, each: Kind | None = None) -> None:
        self.types = types
        self.what = what
        self.each = each

    def check(self, value: object, path: str) -> None:
        """Raise an ``IRError`` at ``path`` unless ``value`` is of this kind."""
        is_bool = isinstance(value, bool)
        if not isinstance(value, self.types) or (is_bool and bool not in self.types):
            raise IRError(f"{path}: expected {self.what}, got {type_name(value)}")
        if isinstance(value, Mapping):
            _string_keys(value, path)
        if self.each is None:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                self.each.check(item, f"{path}[{key!r}]")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                self.each.check(item, f"{path}[{i}]")


def type_name(value: object) -> str:
    """``value``'s type as an IR error names it: ``null`` for None, else Python's name."""
    return "null" if value is None else type(value).__name__


def _string_keys(value: Mapping[Any, object], path: str) -> None:
    for key in value:
        if not isinstance(key, str):
            raise IRError(f"{path}: keys must be strings, got {key!r} ({type_name(key)})")


_NULL = type(None)
STR = Kind((str,), "a string")
OPT_STR = Kind((str, _NULL), "a string or null")
INT = Kind((int,), "an integer")
OPT_INT = Kind((int, _NULL), "an integer or null")
NUMBER = Kind((int, float), "a number")
BOOL = Kind((bool,), "true or false")
LIST = Kind((list, tuple), "a list")
STR_LIST = Kind((list, tuple), "a list", each=STR)
OBJECT = Kind((Mapping,), "an object")
OPT_OBJECT = Kind((Mapping, _NULL), "an object or null")
STR_OBJECT = Kind((Mapping,), "an object", each=STR)
ANY = Kind((str, int, float, bool, list, tuple, Mapping, _NULL), "a JSON value")
OPT_LIST = Kind((list, tuple, _NULL), "a list or null")
PROFILE_REF = Kind((str, Mapping, _NULL), "a profile name, a profile object or null")


# Each IR class's keys and the JSON kind of each.
RETRY: dict[str, Kind] = {
    "max_attempts": INT,
    "initial_interval": STR,
    "backoff_coefficient": NUMBER,
    "maximum_interval": OPT_STR,
    "non_retryable_error_types": STR_LIST,
}
PROFILE: dict[str, Kind] = {
    "name": OPT_STR,
    "timeout": STR,
    "heartbeat_timeout": OPT_STR,
    "retry": OBJECT,
}
OUTCOME: dict[str, Kind] = {"name": STR, "from": OPT_STR}
ACTIVITY: dict[str, Kind] = {
    "kind": STR,
    "id": OPT_STR,
    "fn": STR,
    "args": OBJECT,
    "profile": PROFILE_REF,
    "outcome": OPT_OBJECT,
    "when": OPT_OBJECT,
}
GATE: dict[str, Kind] = {
    "kind": STR,
    "id": OPT_STR,
    "signal": STR,
    "timeout": STR,
    "description": STR,
    "when": OPT_OBJECT,
}
PHASE: dict[str, Kind] = {
    "name": STR,
    "steps": LIST,
    "parallel": BOOL,
    "fail_fast": BOOL,
    "max_concurrency": OPT_INT,
    "when": OPT_OBJECT,
}
PARAM: dict[str, Kind] = {"type": STR, "default": ANY, "choices": OPT_LIST, "help": STR}
OP: dict[str, Kind] = {
    "schema_version": INT,
    "name": STR,
    "overview": STR,
    "phases": LIST,
    "on_failure": LIST,
    "depends": STR_LIST,
    "task_queue": OPT_STR,
    "search_attributes": STR_OBJECT,
    "schedule": OPT_STR,
    "params": OBJECT,
    "schedule_params": OBJECT,
}


def read_object(
    data: object, path: str, keys: Mapping[str, Kind], *, required: Sequence[str] = ()
) -> dict[str, Any]:
    """``data`` as a dict, once it is an object whose keys are all in ``keys``, with every
    key in ``required`` and each value of its kind. Checked in this order: the object,
    unknown keys (all named), missing keys (all named), then each value in order. The
    values are typed by ``keys``, which mypy cannot follow: hence ``Any``."""
    if not isinstance(data, Mapping):
        raise IRError(f"{path}: expected an object, got {type_name(data)}")
    _string_keys(data, path)
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise IRError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}")
    missing = [k for k in required if k not in data]
    if missing:
        raise IRError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    for key, value in data.items():
        keys[key].check(value, f"{path}.{key}")
    return dict(data)
