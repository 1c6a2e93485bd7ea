"""Data that flows through an Op: parameters, step outputs, outcomes and conditions.

In an ``*.op.py`` file, ``param("version")``, ``out("build", "stdout")`` and
``outcome("Drift")`` stand for values known only at run time, and comparisons of them
(``param("env") == "prod"``, ``&``, ``|``, ``~``, ``.is_in([...])``) make the
conditions of ``when=``. They are never Python code in the IR: each becomes JSON data
(a reference or an expression tree) when a step or phase is declared, and both
executors interpret that data the same way, just before a step starts.

How they run (resolution, conditions) is ``chant.flow``. The JSON forms
(docs/how-to/pass-data.md):

- ``{"$param": NAME}``; ``{"$out": STEP, "path": "a.b"}`` (``path`` absent: the whole
  result); ``{"$outcome": NAME}``; ``out`` and ``outcome`` may add ``"default": V``,
  used when the step left no result or the path is missing;
- ``{"$format": [part, …]}``: a string with references in it (an f-string), each part
  a string, a reference or a ``Secret``;
- ``{"$cmp": OP, "left": X, "right": Y}`` with OP one of ``== != < <= > >= in``;
  ``{"$and": [A, B]}``, ``{"$or": [A, B]}``, ``{"$not": A}``; ``{"$lit": V}`` is a
  literal object inside a condition.

An f-string cannot hold an object, so a reference formats as a marker (its JSON
between two private-use characters); a step's arguments are scanned for markers when
it is declared, and each string holding one becomes a ``$format``. Nothing here does
I/O, so Temporal's workflow sandbox can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from chant.jsontypes import JSON

OPEN = "\ue000chant"
CLOSE = "\ue001"
_MARK = "\ue000chant(.*?)\ue001"
"""A marker's pattern; ``re`` is imported only for a string that holds one."""
CMP_OPS = ("==", "!=", "<", "<=", ">", ">=", "in")
_REF_KEYS = {
    "$param": frozenset({"$param"}),
    "$out": frozenset({"$out", "path", "default"}),
    "$outcome": frozenset({"$outcome", "default"}),
}
_NO_DEFAULT: Any = object()


def _misuse(what: str) -> NoReturn:
    raise TypeError(
        f"{what} is known only when the Op runs: use it as a step's argument, inside an "
        "f-string, or in when= (combine conditions with &, | and ~, not and/or/not)"
    )


class Value:
    """A value known at run time (a reference or a condition), as written in an Op
    file. ``data`` is its JSON form. Comparisons and ``&``, ``|``, ``~`` build
    conditions; using one as a Python truth value is an error."""

    __slots__ = ("data",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, data: dict[str, JSON]) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<{text(self.data)}>"

    def __bool__(self) -> bool:
        _misuse(repr(self))

    def _cmp(self, op: str, other: object) -> Condition:
        return Condition({"$cmp": op, "left": self.data, "right": _operand(other)})

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return self._cmp("==", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return self._cmp("!=", other)

    def __lt__(self, other: object) -> Condition:
        return self._cmp("<", other)

    def __le__(self, other: object) -> Condition:
        return self._cmp("<=", other)

    def __gt__(self, other: object) -> Condition:
        return self._cmp(">", other)

    def __ge__(self, other: object) -> Condition:
        return self._cmp(">=", other)

    def is_in(self, values: object) -> Condition:
        """True when this value is one of ``values`` (a list, or a reference to one), or
        a substring of it (a string)."""
        return self._cmp("in", values)

    def contains(self, value: object) -> Condition:
        """True when ``value`` is an item of this list (or a substring of this string)."""
        return Condition({"$cmp": "in", "left": _operand(value), "right": self.data})

    def __and__(self, other: object) -> Condition:
        return Condition({"$and": [self.data, _condition(other, "&")]})

    def __rand__(self, other: object) -> Condition:
        return Condition({"$and": [_condition(other, "&"), self.data]})

    def __or__(self, other: object) -> Condition:
        return Condition({"$or": [self.data, _condition(other, "|")]})

    def __ror__(self, other: object) -> Condition:
        return Condition({"$or": [_condition(other, "|"), self.data]})

    def __invert__(self) -> Condition:
        return Condition({"$not": self.data})


class Ref(Value):
    """A reference: ``param(…)``, ``out(…)`` or ``outcome(…)``. It formats in an
    f-string as a marker that the step's declaration turns back into the reference."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec:
            raise TypeError(
                f"{self!r}: a reference in an f-string takes no format spec ({spec!r}); "
                "its value is inserted as text when the step starts"
            )
        return _marker(self.data)

    def __str__(self) -> str:
        return _marker(self.data)

    def __add__(self, other: object) -> str:
        if isinstance(other, str):
            return _marker(self.data) + other
        return NotImplemented

    def __radd__(self, other: object) -> str:
        if isinstance(other, str):
            return other + _marker(self.data)
        return NotImplemented


class Condition(Value):
    """A condition for ``when=``: an expression tree over references."""

    __slots__ = ()


def _marker(data: Mapping[str, JSON]) -> str:
    import json

    return OPEN + json.dumps(data, separators=(",", ":"), sort_keys=True) + CLOSE


def _operand(value: object) -> JSON:
    """The JSON of one side of a comparison: a reference's data, or a literal (an
    object literal wrapped as ``$lit`` so that it cannot read as an expression)."""
    if isinstance(value, Value):
        return value.data
    if isinstance(value, Mapping):
        return {"$lit": dict(value)}
    if isinstance(value, list | tuple):
        return [_operand(v) for v in value]
    if isinstance(value, str) and OPEN in value:
        return _format(value)  # an f-string holding references: compared as its text
    return value  # type: ignore[return-value]  # checked at build: must be JSON


def _condition(value: object, op: str) -> JSON:
    if isinstance(value, Value):
        return value.data
    raise TypeError(
        f"{op} joins conditions, got {value!r}: put each comparison in parentheses, "
        f'e.g. (param("env") == "prod") {op} param("force")'
    )


def param(name: str) -> Ref:
    """The value of the Op's parameter ``name`` (declared in ``Op(params=...)``)."""
    return Ref({"$param": name})


def out(step: str, path: str | None = None, *, default: JSON = _NO_DEFAULT) -> Ref:
    """The result of the step whose id is ``step`` (``id="build"``), or the value at
    dot-path ``path`` in it (``"stdout"``, ``"image.tag"``, ``"items.0"``).

    The step must come earlier in the Op (not in the same parallel phase). When it left
    no result (it was skipped or failed) or the path is missing, the referring step
    fails, unless ``default`` is given: then that is the value."""
    data: dict[str, JSON] = {"$out": step}
    if path is not None:
        data["path"] = path
    if default is not _NO_DEFAULT:
        data["default"] = default
    return Ref(data)


def outcome(name: str, *, default: JSON = _NO_DEFAULT) -> Ref:
    """The value of the outcome ``name`` an earlier step published (``outcome="Name"``);
    ``default`` when no step published it."""
    data: dict[str, JSON] = {"$outcome": name}
    if default is not _NO_DEFAULT:
        data["default"] = default
    return Ref(data)


# -- declared form -> IR ------------------------------------------------------------


def ref_kind(value: object) -> str | None:
    """``"$param"``, ``"$out"`` or ``"$outcome"`` when ``value`` is the JSON of that
    reference (only its own keys, the name a string), else None."""
    if not isinstance(value, Mapping) or not value:
        return None
    for key, allowed in _REF_KEYS.items():
        if key in value and set(value) <= allowed and isinstance(value[key], str):
            return key
    return None


def is_format(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == {"$format"}
        and isinstance(value["$format"], list)
    )


def dynamic(value: object, depth: int = 0) -> bool:
    """Whether ``value`` (a step's arguments, declared or IR) holds a reference or a
    ``$format``, or a marker or ``Value`` still to turn into one. Past 64 levels of
    nesting it says no: the build reports such arguments (and a list holding itself)."""
    if isinstance(value, str):
        return OPEN in value
    if isinstance(value, Value):
        return True
    if depth > 64:
        return False
    if isinstance(value, Mapping):
        return (
            ref_kind(value) is not None
            or is_format(value)
            or any(dynamic(v, depth + 1) for v in value.values())
        )
    if isinstance(value, list | tuple):
        return any(dynamic(v, depth + 1) for v in value)
    return False


def to_ir(value: Any) -> Any:
    """``value`` (a step's arguments) with each ``Ref`` as its JSON and each string
    holding markers as a ``$format``. Values without either are returned as they are
    (the same object), so declared steps compare as before."""
    if not dynamic(value):
        return value
    if isinstance(value, Value):
        return dict(value.data)
    if isinstance(value, str):
        return _format(value)
    if isinstance(value, Mapping):
        return {k: to_ir(v) for k, v in value.items()}
    return [to_ir(v) for v in value]


def _format(text_: str) -> JSON:
    import json
    import re

    from chant.ir import Secret

    parts: list[Any] = []
    at = 0
    for found in re.finditer(_MARK, text_, re.S):
        if found.start() > at:
            parts.append(text_[at : found.start()])
        data = json.loads(found.group(1))
        parts.append(Secret(data["$secret"]) if set(data) == {"$secret"} else data)
        at = found.end()
    if at < len(text_):
        parts.append(text_[at:])
    return {"$format": parts}


def condition_ir(value: object) -> JSON:
    """The JSON of a ``when=`` value: a ``Condition`` or a reference (its truth), or
    a plain value left for the build to report (``when=True`` and the like)."""
    if isinstance(value, Value):
        return value.data
    return value  # type: ignore[return-value]


def json_equal(a: JSON, b: JSON) -> bool:
    """JSON equality: ``true`` is not ``1``; ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return (type(a) is type(b) and a == b) or (
        isinstance(a, int | float) and isinstance(b, int | float) and a == b
    )


def dig(value: JSON, path: str) -> tuple[bool, JSON, str]:
    """``(True, the value at dot-path path, "")`` in ``value`` (list items by index), or
    ``(False, None, the first part not found)``."""
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None, part
    return True, value, ""


def written(ref: Mapping[str, JSON]) -> str:
    """A reference as an Op file writes it: ``out("build", "stdout")``."""
    import json

    kind = ref_kind(ref)
    if kind is None:
        return as_shown(ref)
    args = [json.dumps(ref[kind], ensure_ascii=False)]
    if kind == "$out" and ref.get("path") is not None:
        args.append(json.dumps(ref["path"], ensure_ascii=False))
    return f"{kind[1:]}({', '.join(args)})"


def as_shown(value: JSON) -> str:
    """A value in a message: JSON (strings quoted)."""
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def text(node: JSON, top: bool = True) -> str:
    """A reference or condition as a reader sees it: ``env == "prod"``,
    ``build.stdout``, ``Drift & ~force``."""
    if isinstance(node, Mapping):
        kind = ref_kind(node)
        if kind == "$param":
            return str(node["$param"])
        if kind == "$outcome":
            return f"outcome {node['$outcome']}"
        if kind == "$out":
            path = node.get("path")
            return f"{node['$out']}.{path}" if path else str(node["$out"])
        if "$lit" in node and len(node) == 1:
            return as_shown(node["$lit"])
        if is_format(node):
            parts = node["$format"]
            assert isinstance(parts, list)
            return as_shown(
                "".join(p if isinstance(p, str) else "{" + text(p) + "}" for p in parts)
            )
        for key, sep in (("$and", " & "), ("$or", " | ")):
            if key in node and isinstance(node[key], list):
                inner = sep.join(text(n, False) for n in node[key])  # type: ignore[union-attr]
                return inner if top else f"({inner})"
        if "$not" in node:
            return "~" + text(node["$not"], False)
        if "$cmp" in node:
            left, right = text(node.get("left"), False), text(node.get("right"), False)
            inner = f"{left} {node['$cmp']} {right}"
            return inner if top else f"({inner})"
    return as_shown(node)


def refs_in(node: JSON) -> list[Mapping[str, JSON]]:
    """Every reference in ``node`` (arguments or a condition), in order."""
    from chant.ir import Secret

    if isinstance(node, Secret):
        return []
    if isinstance(node, Mapping):
        if ref_kind(node):
            return [node]
        if set(node) == {"$lit"}:
            return []
        return [r for v in node.values() for r in refs_in(v)]
    if isinstance(node, list | tuple):
        return [r for v in node for r in refs_in(v)]
    return []
