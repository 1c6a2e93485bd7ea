"""The values inside the IR (``chant.ir``): secrets, step arguments and Op parameters.

``Secret`` stands for an environment variable read at run time; ``Arg`` is a step's
argument (JSON with secrets in it, and the references of ``chant.refs``). ``chant.ir``
re-exports each. Nothing here performs I/O.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast

from chant.irschema import STR
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
