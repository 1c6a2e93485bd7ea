"""What the build knows of the data that flows through an Op: the declared shape of an
activity's result (checked against the paths of ``out(...)``), the JSON forms of
references and conditions, and comparisons of a parameter that can never match.

A shape is JSON-like data: ``"any"`` (anything may be there), a scalar word
(``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"null"``), ``[ITEM]`` (a list of
ITEM) or ``{KEY: SHAPE, …}`` (an object with exactly these keys). Built-ins declare
theirs in ``chant.builders.BUILTIN_RESULTS``; a user ``@activity`` declares its own by
its return annotation (``shape_of_function``). Every function returns a message (or
None) and never raises for bad input; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from chant.jsontypes import JSON
from chant.names import CONTROL, MAX_ARGS_DEPTH, close_matches
from chant.refs import CMP_OPS, OPEN, is_format, json_equal, ref_kind, text, to_ir

Shape: TypeAlias = str | list["Shape"] | dict[str, "Shape"]
ANY: Shape = "any"
GATE_RESULT: Shape = {"signal": "str", "approver": "str", "note": "str", "at": "str"}
"""What a gate's step leaves: the approval it received."""

_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "always null",
}
_SCALARS: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "null",
}
_DEPTH = 16
"""How deeply nested TypedDicts are followed (a TypedDict may refer to itself)."""


# -- shapes from annotations ------------------------------------------------------------


def shape_of_function(fn: object) -> Shape:
    """The shape a function's return annotation declares: a TypedDict's keys (nested
    TypedDicts too), a scalar, a list of a shape; ``"any"`` for ``dict``, ``Any``, an
    annotation that cannot be resolved, or none."""
    import typing

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # a name the annotation uses cannot be resolved: anything goes
        return ANY
    try:
        return shape_of(hints["return"]) if "return" in hints else ANY
    except Exception:  # an annotation that is no type at all (unhashable, say)
        return ANY


def shape_of(annotation: object, depth: int = 0) -> Shape:
    """The shape of a type annotation (see ``shape_of_function``)."""
    import types
    import typing
    from collections import abc

    if depth > _DEPTH:
        return ANY
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if annotation is None:
        return "null"
    if typing.is_typeddict(annotation):
        try:
            keys = typing.get_type_hints(annotation)
        except Exception:
            return ANY
        return {k: shape_of(v, depth + 1) for k, v in keys.items()}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in (list, tuple, abc.Sequence, typing.List, typing.Sequence):  # noqa: UP006
        return [ANY]
    if origin in (list, abc.Sequence, abc.MutableSequence, set, frozenset):
        return [shape_of(args[0], depth + 1) if args else ANY]
    if origin is tuple:
        items = {repr(shape_of(a, depth + 1)) for a in args if a is not Ellipsis}
        return [shape_of(args[0], depth + 1)] if len(items) == 1 else [ANY]
    if origin is typing.Literal:
        kinds = {_SCALARS.get(type(a), ANY) for a in args}
        return kinds.pop() if len(kinds) == 1 else ANY
    if origin in (typing.Union, types.UnionType):
        # Optional[X] is X where a path is concerned; other unions: anything goes.
        rest = [a for a in args if a is not type(None)]
        return shape_of(rest[0], depth + 1) if len(rest) == 1 else ANY
    return ANY


# -- paths ------------------------------------------------------------------------------


def is_dot_path(path: object) -> bool:
    """Whether ``path`` is a dot-path such as ``"stdout"`` or ``"items.0.id"``."""
    return isinstance(path, str) and all(path.split(".")) and not CONTROL.search(path)


def path_problem(shape: Shape, path: str) -> tuple[str, list[str]] | None:
    """Why a result of ``shape`` cannot have dot-path ``path`` (``has no "stdot" (it
    has exit_code, stdout, stderr)``) and the paths close to it, or None."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        if shape == ANY:
            return None
        at = ".".join(parts[:i])
        it = f'"{at}"' if at else "it"
        if isinstance(shape, dict):
            if part in shape:
                shape = shape[part]
                continue
            keys = list(shape)
            has = f"{it} has {', '.join(keys)}" if keys else f"{it} has no keys"
            close = [f"{at}.{k}" if at else k for k in close_matches(part, keys)]
            return f'has no "{path}" ({has})', close
        if isinstance(shape, list):
            if part.isdigit():
                shape = shape[0] if shape else ANY
                continue
            index = f"{at}.0" if at else "0"
            return f'has no "{path}" ({it} is a list: index it with a number, e.g. "{index}")', []
        return f'has no "{path}" ({it} is {_WORDS.get(shape, shape)})', []
    return None


# -- JSON forms -------------------------------------------------------------------------

_FORMS = {"$param", "$out", "$outcome", "$format"}
_EXPRS = ("$cmp", "$and", "$or", "$not")
WHEN_HINT = 'write a condition, e.g. when=param("env") == "prod" (join conditions with &, | and ~)'


def is_condition(node: object) -> bool:
    """Whether ``node`` reads as a condition or a reference (what ``when`` may be)."""
    return isinstance(node, Mapping) and (
        ref_kind(node) is not None or any(k in node for k in _EXPRS)
    )


def secret_name(node: object) -> str | None:
    """The name of the secret ``node`` is (a ``Secret`` or its JSON), else None."""
    from chant.ir import Secret

    if isinstance(node, Secret):
        return node.name
    if isinstance(node, Mapping) and set(node) == {"$secret"}:
        return str(node["$secret"])
    return None


def shown_value(node: object) -> str:
    """A value in a message: a string with references in it as its ``$format`` text."""
    if isinstance(node, str) and OPEN in node:
        return text(to_ir(node))
    try:
        return text(node)  # type: ignore[arg-type]
    except Exception:
        return repr(node)


def ref_problem(node: Mapping[str, Any]) -> str | None:
    """Why ``node``, which holds a reference's key (``$param``, ``$out``…), is not a
    well-formed reference, or None."""
    for key, allowed in (
        ("$param", ()),
        ("$out", ("path", "default")),
        ("$outcome", ("default",)),
    ):
        if key not in node:
            continue
        what = {"$param": "a parameter", "$out": "a step id", "$outcome": "an outcome"}[key]
        if not isinstance(node[key], str) or not node[key]:
            return f'"{key}" must name {what} (a non-empty string), got {_json(node[key])}'
        extra = [k for k in node if k != key and k not in allowed]
        if extra:
            takes = f"it takes {' and '.join(allowed)}" if allowed else "it takes nothing else"
            return f'{key} reference has unknown key "{extra[0]}" ({takes})'
        if key == "$out" and "path" in node and not is_dot_path(node["path"]):
            return (
                f'out("{node[key]}"): path must be a dot-path such as "stdout" or '
                f'"image.tag", got {_json(node["path"])}'
            )
        return None
    return None


def form_problems(node: object, in_when: bool = False) -> list[str]:
    """What is malformed in ``node`` (a step's arguments, or a condition with
    ``in_when``): references, ``$format``, comparisons, ``$and``/``$or``/``$not``, a
    secret in a condition. Each problem once, in order."""
    found: list[str] = []
    if in_when:
        _condition(node, found)
    else:
        _args(node, found, 0)
    return list(dict.fromkeys(found))


def _args(node: object, found: list[str], depth: int) -> None:
    if depth > MAX_ARGS_DEPTH:
        return  # reported by the argument check
    if isinstance(node, Mapping):
        if _FORMS & set(node):
            if "$format" in node:
                _format(node, found)
                return
            why = ref_problem(node)
            if why:
                found.append(why)
            return
        for value in node.values():
            _args(value, found, depth + 1)
    elif isinstance(node, list | tuple):
        for value in node:
            _args(value, found, depth + 1)


def _format(node: Mapping[str, Any], found: list[str]) -> None:
    if not is_format(node):
        found.append(f"$format must be the only key, with a list of parts: got {_json(node)}")
        return
    for part in node["$format"]:
        if isinstance(part, str) or secret_name(part) is not None:
            continue
        why = ref_problem(part) if isinstance(part, Mapping) else None
        if why:
            found.append(why)
        elif ref_kind(part) is None:
            found.append(f"$format part {_json(part)} must be a string, a reference or a secret")


def _refused(node: object, found: list[str], depth: int) -> bool:
    """Whether ``node``, in a condition, nests too deep or is a secret (reported)."""
    if depth > MAX_ARGS_DEPTH:
        found.append(f"when nests deeper than {MAX_ARGS_DEPTH} levels")
        return True
    name = secret_name(node)
    if name is not None:
        found.append(_secret_problem(name))
        return True
    return False


def _condition(node: object, found: list[str], depth: int = 0) -> None:
    """``node`` where a condition goes: ``when``, or inside ``$and``/``$or``/``$not``."""
    if _refused(node, found, depth):
        return
    if not is_condition(node):
        found.append(f"when must be a condition or a reference, got {_described(node)}")
        return
    assert isinstance(node, Mapping)
    if ref_kind(node) is None and _FORMS & set(node):
        found.append(ref_problem(node) or f"malformed reference {_json(node)}")
        return
    if ref_kind(node) is not None:
        why = ref_problem(node)
        if why:
            found.append(why)
        return
    key = next(k for k in _EXPRS if k in node)
    extra = sorted(set(node) - ({key, "left", "right"} if key == "$cmp" else {key}))
    if extra:
        found.append(f'{key} has unknown key "{extra[0]}"')
        return
    if key == "$cmp":
        op = node["$cmp"]
        if op not in CMP_OPS:
            found.append(f"unknown comparison {_json(op)} (use {', '.join(CMP_OPS)})")
        for side in ("left", "right"):
            if side not in node:
                found.append(f"$cmp {_json(op)} has no {side} side")
            else:
                _operand(node[side], found, depth + 1)
    elif key == "$not":
        _condition(node["$not"], found, depth + 1)
    elif not isinstance(node[key], list) or not node[key]:
        found.append(f"{key} must be a non-empty list of conditions, got {_json(node[key])}")
    else:
        for item in node[key]:
            _condition(item, found, depth + 1)


def _operand(node: object, found: list[str], depth: int) -> None:
    """One side of a comparison: a reference, a literal, or a condition."""
    if _refused(node, found, depth):
        return
    if isinstance(node, Mapping):
        if set(node) == {"$lit"}:
            return
        if is_condition(node):
            _condition(node, found, depth + 1)
        elif is_format(node):
            for part in node["$format"]:
                if not isinstance(part, str):
                    _operand(part, found, depth + 1)
        elif _FORMS & set(node):
            found.append(ref_problem(node) or f"malformed reference {_json(node)}")
        else:
            for value in node.values():
                _operand(value, found, depth + 1)
    elif isinstance(node, list | tuple):
        for value in node:
            _operand(value, found, depth + 1)


def _secret_problem(name: str) -> str:
    return (
        f'secret("{name}") cannot be used in a condition (a condition\'s values are shown '
        "in the reason a step is skipped; a secret is never shown)"
    )


def _described(node: object) -> str:
    if isinstance(node, str) and OPEN in node:
        return f"the f-string {shown_value(node)}"
    return f"{type(node).__name__} {_json(node)}"


def _json(value: object) -> str:
    import json

    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= 60 else shown[:59] + "…"


# -- comparisons of a parameter -------------------------------------------------------


def never_equal(name: str, param: Any, value: JSON) -> tuple[str, str | None] | None:
    """Why parameter ``name`` (a ``chant.ir.Param``) can never equal literal ``value``
    (``"prod" is not one of env's choices ("staging", "production")``) and a hint, or
    None when it can."""
    from chant.params import TYPE_WORDS, type_problem

    kind = param.type_name
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (kind in ("int", "float") and number) and type_problem(param, value):
        return f"{name} is {TYPE_WORDS.get(kind, kind)}, never {_json(value)}", None
    if param.choices is None or not isinstance(param.choices, tuple | list):
        return None
    choices = list(param.choices)
    if kind == "list":
        items = value if isinstance(value, list | tuple) else []
        bad = [v for v in items if v not in choices]
        if not bad:
            return None
        value = bad[0]
    elif any(json_equal(value, c) for c in choices):
        return None
    listed = ", ".join(_json(c) for c in choices)
    hint = None
    if isinstance(value, str):
        close = close_matches(value, [c for c in choices if isinstance(c, str)])
        hint = f'did you mean "{close[0]}"?' if close else None
    return f"{_json(value)} is not one of {name}'s choices ({listed})", hint


def never_item(name: str, param: Any, value: JSON) -> tuple[str, str | None] | None:
    """Why ``value`` can never be an item of list parameter ``name`` (for
    ``param(name).contains(value)``) and a hint, or None."""
    if param.type_name != "list":
        return None
    if not isinstance(value, str):
        return f"{name} is a list of strings, never holding {_json(value)}", None
    return never_equal(name, param, [value])
