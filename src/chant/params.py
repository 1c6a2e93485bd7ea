"""An Op's parameters at run time: checking values against their declaration.

An Op declares ``params={"version": Param(str, help="image tag")}``; a run gives the
values (``chant run deploy version=1.5``, ``--params-file``, ``chant.run(params=…)``, a
schedule's). Nothing here does I/O: the Temporal workflow checks its input with it.
"""

from __future__ import annotations

from chant.ir import Param
from chant.jsontypes import JSON

TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list of strings",
}


def type_problem(param: Param, value: JSON) -> str | None:
    """Why ``value`` (JSON, already typed) is not of ``param``'s type, or None."""
    kind = param.type_name
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
    }.get(kind, False)
    if ok:
        return None
    return f"must be {TYPE_WORDS.get(kind, kind)}, got {_shown(value)}"


def value_problem(param: Param, value: JSON) -> str | None:
    """Why ``value`` is not a value ``param`` allows (its type, then its choices)."""
    why = type_problem(param, value)
    if why:
        return why
    if param.choices is not None:
        allowed = list(param.choices)
        if isinstance(value, list | tuple):
            bad = [v for v in value if v not in allowed]
            if bad:
                return f"{_shown(bad[0])} is not one of {_choices(allowed)}"
        elif not any(_same(value, c) for c in allowed):
            return f"{_shown(value)} is not one of {_choices(allowed)}"
    return None


def _same(a: JSON, b: JSON) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _choices(allowed: list[JSON]) -> str:
    return ", ".join(_shown(c) for c in allowed)


def _shown(value: object) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
