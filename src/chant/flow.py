"""References and conditions at run time: what the shared walk (``chant.walk``) resolves
just before a step starts, in both executors.

``Scope`` holds the run's parameter values and, as steps finish, their results and
outcomes; ``resolve`` puts values in a step's arguments, ``evaluate`` decides a ``when=``
and ``why_false`` says why it did not hold. The JSON forms are ``chant.refs``'. Nothing
here does I/O, so Temporal's workflow sandbox runs it deterministically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chant.errors import UnresolvedReferenceError
from chant.irvalues import args_to_json
from chant.jsontypes import JSON
from chant.planned import PlannedStep
from chant.refs import as_shown, dig, is_format, json_equal, ref_kind, refs_in, text, written


class Scope:
    """What references resolve against while an Op runs: its parameter values, the
    result of each step that has one, and the outcomes published so far."""

    __slots__ = ("outcomes", "params", "results", "states")

    def __init__(self, params: Mapping[str, JSON]) -> None:
        self.params = dict(params)
        self.results: dict[str, JSON] = {}
        """Step id → its result, for each step that succeeded."""
        self.states: dict[str, str] = {}
        """Step id → how it ended (``failed``, ``skipped``…), for each without a result."""
        self.outcomes: dict[str, JSON] = {}


def lookup(ref: Mapping[str, JSON], scope: Scope) -> JSON:
    """The value of one reference in ``scope``; ``UnresolvedReferenceError`` when it has
    none (and no default)."""
    kind = ref_kind(ref)
    if kind == "$param":
        name = str(ref["$param"])
        if name not in scope.params:
            raise UnresolvedReferenceError(f"{written(ref)}: the Op has no parameter {name!r}")
        return scope.params[name]
    if kind == "$outcome":
        name = str(ref["$outcome"])
        if name in scope.outcomes:
            return scope.outcomes[name]
        if "default" in ref:
            return ref["default"]
        raise UnresolvedReferenceError(f"{written(ref)}: no step has published outcome {name!r}")
    if kind == "$out":
        step = str(ref["$out"])
        if step not in scope.results:
            if "default" in ref:
                return ref["default"]
            state = scope.states.get(step)
            why = ("failed" if state == "failed" else f"was {state}") if state else "has not run"
            raise UnresolvedReferenceError(
                f'{written(ref)}: step "{step}" {why}, so it has no result (give the '
                "reference a default= to use then)"
            )
        path = ref.get("path")
        if not path:
            return scope.results[step]
        found, value, missing = dig(scope.results[step], str(path))
        if found:
            return value
        if "default" in ref:
            return ref["default"]
        raise UnresolvedReferenceError(
            f'{written(ref)}: the result of step "{step}" has no "{path}" (no "{missing}" there)'
        )
    raise UnresolvedReferenceError(f"not a reference: {ref!r}")


def as_text(value: JSON) -> str:
    """How a value goes into a string: strings as they are, ``true``/``false``/``""``
    for booleans and null, numbers and lists and objects as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` (a step's arguments) with every reference replaced by its value and
    every ``$format`` joined into a string. A ``Secret`` stays: its value is put in
    where the step runs. A ``$format`` holding a secret stays a ``$format`` of strings
    and secrets."""
    from chant.ir import Secret

    if isinstance(value, Mapping):
        if ref_kind(value):
            return lookup(value, scope)
        if is_format(value):
            parts: list[Any] = []
            for part in value["$format"]:
                if isinstance(part, Secret) or (
                    isinstance(part, Mapping) and set(part) == {"$secret"}
                ):
                    parts.append(part)
                    continue
                piece = as_text(part if isinstance(part, str) else lookup(part, scope))
                if parts and isinstance(parts[-1], str):
                    parts[-1] += piece
                else:
                    parts.append(piece)
            if all(isinstance(p, str) for p in parts):
                return "".join(parts)
            return {"$format": parts}
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, scope) for v in value]
    return value


def partial(value: Any, scope: Scope, only: str | None = None) -> Any:
    """``value`` with the references that have a value in ``scope`` replaced, the rest
    left as they are: how a step that never started shows its arguments. With ``only``
    (``"$param"``), references of that kind alone: what a plan knows before the run."""
    from chant.ir import Secret

    if isinstance(value, Mapping):
        kind = ref_kind(value)
        if kind:
            if only is not None and kind != only:
                return value
            try:
                return lookup(value, scope)
            except UnresolvedReferenceError:
                return value
        if is_format(value):
            parts: list[Any] = []
            for part in value["$format"]:
                if isinstance(part, Mapping) and ref_kind(part):
                    known = partial(part, scope, only)
                    part = known if known is part else as_text(known)
                if isinstance(part, str) and parts and isinstance(parts[-1], str):
                    parts[-1] += part
                else:
                    parts.append(part)
            if all(isinstance(p, str) for p in parts):
                return "".join(parts)
            return {"$format": parts}
        if isinstance(value, Secret):
            return value
        return {k: partial(v, scope, only) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [partial(v, scope, only) for v in value]
    return value


# -- conditions -------------------------------------------------------------------------


def _operand_value(node: JSON, scope: Scope) -> JSON:
    if isinstance(node, Mapping):
        if ref_kind(node):
            return lookup(node, scope)
        if set(node) == {"$lit"}:
            return node["$lit"]
        if is_format(node):
            return resolve(node, scope)  # type: ignore[no-any-return]
        if _is_expr(node):
            return evaluate(node, scope)
        return {k: _operand_value(v, scope) for k, v in node.items()}
    if isinstance(node, list):
        return [_operand_value(v, scope) for v in node]
    return node


def _is_expr(node: Mapping[str, JSON]) -> bool:
    return bool(node) and next(iter(node)) in ("$cmp", "$and", "$or", "$not")


def _order(op: str, left: JSON, right: JSON, node: Mapping[str, JSON]) -> bool:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        raise UnresolvedReferenceError(
            f"condition {text(node)}: cannot compare {as_shown(left)} {op} {as_shown(right)} "
            "(only two numbers or two strings can be ordered)"
        )
    a, b = left, right
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def evaluate(node: JSON, scope: Scope) -> bool:
    """The truth of condition ``node`` in ``scope``; ``UnresolvedReferenceError`` when a
    reference in it has no value or two values cannot be compared."""
    if isinstance(node, Mapping):
        if "$and" in node:
            return all(evaluate(n, scope) for n in node["$and"])  # type: ignore[union-attr]
        if "$or" in node:
            return any(evaluate(n, scope) for n in node["$or"])  # type: ignore[union-attr]
        if "$not" in node:
            return not evaluate(node["$not"], scope)
        if "$cmp" in node:
            op = str(node["$cmp"])
            left = _operand_value(node["left"], scope)
            right = _operand_value(node["right"], scope)
            if op == "==":
                return json_equal(left, right)
            if op == "!=":
                return not json_equal(left, right)
            if op == "in":
                if isinstance(right, str) and isinstance(left, str):
                    return left in right
                if isinstance(right, list):
                    return any(json_equal(left, item) for item in right)
                raise UnresolvedReferenceError(
                    f"condition {text(node)}: {as_shown(right)} is not a list or a string"
                )
            return _order(op, left, right, node)
    return truthy(_operand_value(node, scope))


def truthy(value: JSON) -> bool:
    """A value's truth in a condition: false, null, 0, "" and empty lists and objects
    are false; anything else is true (the string "false" too)."""
    return bool(value)


def why_false(node: JSON, scope: Scope) -> str:
    """The reason a step is skipped for condition ``node``: ``condition false: env ==
    "prod" (env is "staging")``."""
    seen: dict[str, str] = {}
    for ref in refs_in(node):
        try:
            seen.setdefault(text(ref), as_shown(lookup(ref, scope)))
        except UnresolvedReferenceError:
            continue
    values = ", ".join(f"{k} is {v}" for k, v in seen.items())
    return f"condition false: {text(node)}" + (f" ({values})" if values else "")


def shown(step: PlannedStep, scope: Scope) -> PlannedStep:
    """``step`` showing the values its references have so far: how a step that does not
    start is recorded (the rest stay as the Op wrote them)."""
    if not step.dynamic:
        return step
    args = args_to_json(partial(step.args, scope))
    return step._replace(shown_args=args if isinstance(args, dict) else {})


def prepared(step: PlannedStep, scope: Scope) -> PlannedStep | str | UnresolvedReferenceError:
    """``step`` as it is to run, its references resolved; or why it is skipped (its
    condition is false); or the error that fails it (a reference without a value)."""
    try:
        if step.when is not None and not evaluate(step.when, scope):
            return why_false(step.when, scope)
        if not step.dynamic:
            return step
        args = resolve(step.args, scope)
    except UnresolvedReferenceError as exc:
        return exc
    json_args = args_to_json(args)
    return step._replace(args=args, shown_args=json_args if isinstance(json_args, dict) else {})
