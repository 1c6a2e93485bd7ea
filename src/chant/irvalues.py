"""The values inside the IR (``chant.ir``): secrets, step arguments and Op parameters.

``Secret`` stands for an environment variable read at run time; ``Arg`` is a step's
argument (JSON with secrets in it, and the references of ``chant.refs``); ``Param`` is an
Op's parameter. ``chant.ir`` re-exports each. Nothing here performs I/O.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

from chant.errors import IRError
from chant.irschema import PARAM, STR, read_object
from chant.jsontypes import JSON
from chant.names import MAX_ARGS_DEPTH
from chant.refs import CLOSE, OPEN


def caller_origin(depth: int) -> str | None:
    """``file:line`` of the frame ``depth`` levels above the caller."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return None
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


@dataclass(frozen=True)
class Secret:
    """A value read from environment variable ``name`` at run time; never stored."""

    name: str

    def to_dict(self) -> dict[str, str]:
        return {"$secret": self.name}

    def __format__(self, spec: str) -> str:
        # In an f-string: a marker the step's declaration turns into a ``$format`` part
        # (chant.refs), so the value is put in where the step runs, and masked.
        import json

        return OPEN + json.dumps({"$secret": self.name}, separators=(",", ":")) + CLOSE


Arg: TypeAlias = bool | int | float | str | Secret | Sequence["Arg"] | Mapping[str, "Arg"] | None
"""A step's argument: JSON, with a ``Secret`` anywhere in it (written ``{"$secret": …}``)."""


class _Required:
    """The default of a parameter that has none: the run must give a value."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
PARAM_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "list": list}
"""A parameter's type as the IR names it, and as Python does (``list`` is a list of
strings)."""


def param_type_name(value: object) -> str | None:
    """The IR name of a parameter type given in Python (``str``, ``list[str]``…), or
    None when it is not one."""
    for name, kind in PARAM_TYPES.items():
        if value is kind:
            return name
    if getattr(value, "__origin__", None) is list and getattr(value, "__args__", None) == (str,):
        return "list"
    return None


@dataclass(frozen=True)
class Param:
    """A parameter of an Op: ``Param(str, default="staging", choices=[...], help="…")``.

    ``type`` is ``str``, ``int``, ``float``, ``bool`` or ``list[str]``; without a
    ``default`` the parameter is required. A step uses its value with
    ``param("name")``; ``chant run OP name=value`` gives it."""

    type: Any = str
    default: JSON = field(default=REQUIRED, kw_only=True)
    choices: Sequence[JSON] | None = field(default=None, kw_only=True)
    """The only values allowed, when given."""
    help: str = field(default="", kw_only=True)
    """One line saying what the parameter is for (``chant list`` shows it)."""
    origin: str | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        if isinstance(self.choices, tuple | list):
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.origin is None:
            object.__setattr__(self, "origin", caller_origin(2))

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        """The type as the IR writes it (``str``, ``int``, ``float``, ``bool``, ``list``)."""
        return param_type_name(self.type) or str(getattr(self.type, "__name__", repr(self.type)))

    def to_dict(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {"type": self.type_name}
        if not self.required:
            default = self.default
            data["default"] = list(default) if isinstance(default, tuple) else default
        data["choices"] = list(self.choices) if self.choices is not None else None
        data["help"] = self.help
        return data

    @classmethod
    def from_dict(cls, data: JSON, path: str = "param") -> Param:
        d = read_object(data, path, PARAM, required=("type",))
        kind = PARAM_TYPES.get(d["type"])
        if kind is None:
            raise IRError(
                f"{path}.type: expected one of {', '.join(PARAM_TYPES)}, got {d['type']!r}"
            )
        if kind is list:
            kind = list[str]
        return cls(
            kind,
            default=d.get("default", REQUIRED),
            choices=d.get("choices"),
            help=d.get("help", ""),
            origin="",
        )


def args_to_json(value: Arg) -> JSON:
    """``value`` as JSON: each ``Secret`` written ``{"$secret": NAME}``."""
    if isinstance(value, Secret):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: args_to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [args_to_json(v) for v in value]
    return cast(JSON, value)  # a scalar


def args_from_json(value: JSON, path: str = "args") -> Arg:
    """``value`` with each ``{"$secret": NAME}`` read as ``Secret(NAME)``; an ``IRError``
    at ``path`` where NAME is not a string."""
    if isinstance(value, Mapping):
        if set(value) == {"$secret"}:
            name = value["$secret"]
            STR.check(name, f"{path}.$secret")
            return Secret(str(name))
        return {k: args_from_json(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [args_from_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def iter_secrets(value: Arg) -> list[str]:
    """Names of every ``Secret`` inside ``value``, in order of appearance."""
    if isinstance(value, Secret):
        return [value.name]
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in iter_secrets(v)]
    if isinstance(value, list | tuple):
        return [n for v in value for n in iter_secrets(v)]
    return []


def has_forms(value: object, depth: int = 0) -> bool:
    """Whether a step's arguments hold a reference, an f-string of one, or any other
    ``$`` form but a secret (a malformed one too): what the data-flow checks look at."""
    if isinstance(value, str):
        return OPEN in value
    if depth > MAX_ARGS_DEPTH:
        return True  # reported by the argument checks; the flow checks stop there too
    if isinstance(value, Mapping):
        if any(isinstance(k, str) and k.startswith("$") and k != "$secret" for k in value):
            return True
        return any(has_forms(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_forms(v, depth + 1) for v in value)
    return False
