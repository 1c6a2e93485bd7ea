"""An Op's parameters at run time: checking values against their declaration.

An Op declares ``params={"version": Param(str, help="image tag")}``; a run gives the
values: ``KEY=VALUE`` texts (``chant run deploy version=1.5``), a JSON object (a
``--params-file``), or typed values (``chant.run(params=…)``, a schedule's, a workflow
input). ``values_for`` turns them into the run's complete values, defaults filled in, or
raises ``ParamError`` naming every problem at once; ``check`` does the same for typed
values alone. Nothing here does I/O: the Temporal workflow checks its input with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from chant.errors import UsageError
from chant.ir import Op
from chant.irparam import Param
from chant.jsontypes import JSON
from chant.names import PARAM_NAME
from chant.refs import json_equal

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
        elif not any(json_equal(value, c) for c in allowed):
            return f"{_shown(value)} is not one of {_choices(allowed)}"
    return None


TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
"""The texts a bool parameter accepts on the command line (in any case)."""
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class ParamError(UsageError):
    """Parameter values that do not fit an Op's parameters; ``problems`` holds every one
    (``op`` is the Op's name). The hint lists the Op's parameters."""

    def __init__(self, op: Op, problems: Sequence[str]) -> None:
        self.op = op.name
        self.problems = tuple(problems)
        if len(problems) == 1:
            message = f'op "{op.name}": {problems[0]}'
        else:
            lines = "".join(f"\n  {p}" for p in problems)
            message = f'op "{op.name}": {len(problems)} problems with its parameters:{lines}'
        super().__init__(message, hint=takes(op))


def values_for(
    op: Op,
    args: Sequence[str] = (),
    *,
    file: Mapping[str, JSON] | None = None,
    file_name: str = "",
    typed: Mapping[str, JSON] | None = None,
) -> dict[str, JSON]:
    """The values a run of ``op`` gets, checked and complete (every parameter, in the
    order the Op declares them; defaults fill in what is not given), from ``file`` (the
    object of the params file ``file_name``), then ``args`` (``KEY=VALUE`` texts, as on
    the command line), then ``typed``: a later source overrides an earlier one, and a
    value overridden is not checked. ``ParamError`` names every problem."""
    if typed is not None and not isinstance(typed, Mapping):
        raise ParamError(op, [_not_mapping("params", typed)])
    problems: list[str] = []
    given: dict[str, JSON] = {}
    typed = typed or {}
    later = set(typed) | {a.partition("=")[0] for a in args if "=" in a}
    for name, value in (file or {}).items():
        if name not in later:
            _give(op, given, name, value, f"{_shown(name)} in {file_name}", problems)
    seen: dict[str, str] = {}
    for item in args:
        parsed = _assignment(op, item, seen, problems)
        if parsed is not None and parsed[0] not in typed:
            given[parsed[0]] = parsed[1]
    for name, value in typed.items():
        _give(op, given, name, value, f"params[{_shown(name)}]", problems)
    return _complete(op, given, problems, named=later | set(file or {}))


def parse_file(op: Op, text: str, name: str) -> dict[str, JSON]:
    """The values in the text of the params file ``name``: a JSON object of parameter
    names and values. ``ParamError`` (naming the file, and the line and column of a JSON
    syntax error) when it is not one, or names a parameter twice."""
    import json

    def pairs(items: list[tuple[str, JSON]]) -> dict[str, JSON]:
        found: dict[str, JSON] = {}
        for key, value in items:
            if key in found:
                raise ParamError(op, [f'params file {name}: "{key}" is given twice'])
            found[key] = value
        return found

    try:
        value = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        where = f"{name}:{exc.lineno}:{exc.colno}"
        raise ParamError(op, [f"params file {where}: not JSON: {exc.msg}"]) from None
    if not isinstance(value, dict):
        raise ParamError(
            op,
            [
                f"params file {name}: must hold a JSON object of parameter values "
                f'(e.g. {{"version": "1.5"}}), not {_json_kind(value)}'
            ],
        )
    return value


def check(op: Op, values: Mapping[str, JSON], *, label: str = "params") -> dict[str, JSON]:
    """``values`` (typed: JSON values by name) checked against ``op``'s parameters and
    completed with the defaults (``values_for``); a problem names a value as
    ``label["name"]``. ``ParamError`` names every problem."""
    if not isinstance(values, Mapping):
        raise ParamError(op, [_not_mapping(label, values)])
    problems: list[str] = []
    given: dict[str, JSON] = {}
    for name, value in values.items():
        _give(op, given, name, value, f"{label}[{_shown(name)}]", problems)
    return _complete(op, given, problems, named=set(values))


def problems(op: Op, values: Mapping[str, JSON], *, label: str = "params") -> list[str]:
    """What ``check`` would say of ``values`` (empty when they fit)."""
    try:
        check(op, values, label=label)
    except ParamError as exc:
        return list(exc.problems)
    return []


def from_text(param: Param, text: str) -> tuple[JSON, str | None]:
    """``text`` given on the command line as a value of ``param``: the value, or why it
    cannot be one. str: as is; int: decimal digits; float: a decimal number; bool: true,
    false, yes, no, on, off, 1 or 0, in any case; list: a JSON array of strings when it
    starts with ``[``, else the comma-separated items (empty text: no item)."""
    kind = param.type_name
    if kind == "int" and _INT.fullmatch(text):
        return int(text), None
    if kind == "float" and _FLOAT.fullmatch(text) and abs(float(text)) != float("inf"):
        return float(text), None
    if kind == "bool" and text.lower() in TRUE + FALSE:
        return text.lower() in TRUE, None
    if kind == "list":
        return _list(text)
    if kind == "str":
        return text, None
    return None, f"must be {TYPE_WORDS.get(kind, kind)}" + (
        " (or yes/no, on/off, 1/0)" if kind == "bool" else ""
    )


def takes(op: Op) -> str:
    """What ``op`` takes, for a hint: a line per parameter (``describe``)."""
    if not op.params:
        return f'op "{op.name}" takes no parameters'
    lines = "".join(f"\n    {line}" for line in describe(op))
    return f'op "{op.name}" takes (as KEY=VALUE after its name, or in --params-file FILE):{lines}'


def describe(op: Op) -> list[str]:
    """A line per parameter of ``op``: ``version (str, required)`` or ``env=staging
    (staging|prod)``, then its help, aligned: how ``chant list`` and the hint of a
    ``ParamError`` show them."""
    heads = [_head(name, p) for name, p in op.params.items()]
    width = max((len(h) for h in heads), default=0)
    return [
        f"{head:<{width}}  {p.help}" if p.help else head
        for head, p in zip(heads, op.params.values(), strict=True)
    ]


def as_text(value: JSON) -> str:
    """``value`` as it would be typed after ``KEY=`` on the command line: a string as it
    is (JSON-quoted when empty or holding a space or control character), a bool as
    ``true``/``false``, a list comma-separated (as a JSON array when an item is empty or
    holds a comma or a space)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if _plain(value) else _json(value)
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
        if items and all(_plain(v) and "," not in v for v in items) and items[0][:1] != "[":
            return ",".join(items)
        return _json(list(value))
    return _json(value)


def _head(name: str, param: Param) -> str:
    kind = "|".join(as_text(c) for c in param.choices) if param.choices else param.type_name
    if param.required:
        return f"{name} ({kind}, required)"
    return f"{name}={as_text(_normal(param, param.default))} ({kind})"


def _give(
    op: Op, given: dict[str, JSON], name: object, value: JSON, label: str, problems: list[str]
) -> None:
    """Check the typed ``value`` of ``name`` and keep it in ``given`` when it fits."""
    if not isinstance(name, str) or name not in op.params:
        problems.append(f"{label}: {_unknown(op, name)}")
        return
    param = op.params[name]
    why = value_problem(param, value)
    if why:
        problems.append(f"{label}: {why}")
        return
    given[name] = _normal(param, value)


def _assignment(
    op: Op, item: str, seen: dict[str, str], problems: list[str]
) -> tuple[str, JSON] | None:
    """``item`` (``KEY=VALUE``) as a name and a value of that parameter, or None after
    adding its problem."""
    label = _label(item)
    name, equals, text = item.partition("=")
    if not equals:
        problems.append(f"{label}: not KEY=VALUE; {_example(op, item)}")
        return None
    if not PARAM_NAME.fullmatch(name):
        what = "nothing" if not name else _shown(name)
        problems.append(
            f"{label}: {what} before = is not a parameter name (letters, digits and _, "
            "not starting with a digit)"
        )
        return None
    if name in seen:
        problems.append(f"{label}: {name} is given twice on the command line (also {seen[name]})")
        return None
    seen[name] = label
    if name not in op.params:
        problems.append(f"{label}: {_unknown(op, name)}")
        return None
    param = op.params[name]
    value, why = from_text(param, text)
    if why is None:
        why = value_problem(param, value)
    if why:
        problems.append(f"{label}: {why}")
        return None
    return name, _normal(param, value)


def _complete(
    op: Op, given: Mapping[str, JSON], problems: list[str], *, named: set[object]
) -> dict[str, JSON]:
    """Every parameter's value (``given``, else its default), or ``ParamError`` for
    ``problems`` and each required parameter missing (not ``named`` at all: one given a
    wrong value has its problem already)."""
    done: dict[str, JSON] = {}
    for name, param in op.params.items():
        if name in given:
            done[name] = given[name]
        elif param.required and name not in named:
            problems.append(f'missing required parameter "{name}"')
        else:
            done[name] = _normal(param, param.default)
    if problems:
        raise ParamError(op, problems)
    return done


def _normal(param: Param, value: JSON) -> JSON:
    """``value`` as a run gets it: a list as a list, an integer given to a float
    parameter as a float (so ``ratio=1`` and ``{"ratio": 1}`` both give ``1.0``)."""
    if isinstance(value, tuple):
        return list(value)
    if param.type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _unknown(op: Op, name: object) -> str:
    if not op.params:
        return "unknown parameter"  # the hint says the Op takes none
    if not isinstance(name, str):
        return f"a parameter name must be a string, got {_shown(name)}"
    from chant.names import suggest

    return f"unknown parameter; {suggest(name, list(op.params))}"


def _example(op: Op, item: str) -> str:
    """How ``item`` (no ``=``) might have been meant: ``env=prod`` when it is a choice of
    one parameter alone."""
    meant = [n for n, p in op.params.items() if item in [as_text(c) for c in p.choices or ()]]
    if len(meant) == 1:
        return f"did you mean {meant[0]}={item}?"
    first = next(iter(op.params), "name")
    return f"a parameter is given as NAME=VALUE, e.g. {first}={item if _plain(item) else 'VALUE'}"


def _list(text: str) -> tuple[JSON, str | None]:
    if not text.startswith("["):
        return (text.split(",") if text else []), None
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        where = f"column {exc.colno}: " if isinstance(exc, json.JSONDecodeError) else ""
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return None, f"must be a JSON array of strings ({where}{why}) or comma-separated text"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None, f"must be a JSON array of strings, got {_shown(value)}"
    return value, None


def _not_mapping(label: str, value: object) -> str:
    return f"{label} must be a mapping of parameter names to values, got {_shown(value)}"


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a string" if isinstance(value, str) else "a number"


def _label(item: str) -> str:
    """``item`` from the command line as a problem names it (shortened, quoted when it
    holds a space or is empty)."""
    text = item if len(item) <= 60 else item[:59] + "…"
    return text if text and _plain(text) else _json(text)


def _plain(text: str) -> bool:
    return bool(text) and not any(c.isspace() or not c.isprintable() for c in text)


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _choices(allowed: list[JSON]) -> str:
    return ", ".join(_shown(c) for c in allowed)


def _shown(value: object) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
