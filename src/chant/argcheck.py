"""The check of a step's arguments: JSON data and ``secret(...)`` only, nothing a command
line cannot carry, nested at most ``MAX_ARGS_DEPTH`` levels."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from chant.ir import Arg, Secret
from chant.names import MAX_ARGS_DEPTH, SECRET_NAME, short_repr

Report = Callable[..., None]
"""``problem(message, origin, hint=None)``: how a found problem is reported."""


class TooDeep(Exception):
    """Arguments nest too deeply; reported once, then the walk stops."""


def check_args(value: Arg, what: str, origin: str | None, problem: Report, depth: int = 0) -> None:
    """Report what in a step's arguments is not JSON data (or a valid ``secret``):
    non-string keys, NUL bytes, non-finite numbers, other objects, bad secret names.
    Raises ``TooDeep`` past ``MAX_ARGS_DEPTH`` levels, after reporting it."""
    if depth > MAX_ARGS_DEPTH:
        problem(f"{what}: arguments nest deeper than {MAX_ARGS_DEPTH} levels", origin)
        raise TooDeep
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                problem(f"{what}: argument keys must be strings, got {short_repr(k)}", origin)
            elif "\x00" in k:
                problem(f"{what}: argument key {short_repr(k)} holds a NUL byte", origin)
            check_args(v, what, origin, problem, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            check_args(v, what, origin, problem, depth + 1)
    elif isinstance(value, Secret):
        if not isinstance(value.name, str) or not SECRET_NAME.fullmatch(value.name):
            problem(
                f"{what}: secret name {short_repr(value.name)} is not an environment variable name",
                origin,
                hint='write secret("NAME") with letters, digits and _',
            )
    elif isinstance(value, str):
        if "\x00" in value:
            problem(
                f"{what}: argument {short_repr(value)} holds a NUL byte",
                origin,
                hint="no command, argument, variable or path can hold one; remove it",
            )
    elif isinstance(value, float) and not math.isfinite(value):
        problem(f"{what}: argument value {value!r} is not a finite number", origin)
    elif not isinstance(value, int | float | bool) and value is not None:
        problem(
            f"{what}: argument value {short_repr(value)} is not JSON data",
            origin,
            hint="use str, int, float, bool, None, lists, dicts or secret(...)",
        )
