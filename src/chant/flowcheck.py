"""The build's checks of what flows through an Op (``chant.resolver`` runs them): its
parameter declarations and the values its schedule runs with, and, once every step id
is known, each reference (``param``, ``out``, ``outcome``) and each ``when``. Every
problem is appended with the declaring object's ``file:line``, none raised."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from chant.ir import ActivityStep, GateStep, Op, Outcome, Phase, Step
from chant.irparam import Param, param_type_name
from chant.jsontypes import JSON
from chant.names import MAX_NAME, PARAM_NAME, did_you_mean, label, short_repr, shown, suggest, where
from chant.refs import dynamic, ref_kind, refs_in, text, written
from chant.shapes import (
    GATE_RESULT,
    WHEN_HINT,
    form_problems,
    is_dot_path,
    never_equal,
    never_item,
    path_problem,
    secret_name,
)

if TYPE_CHECKING:
    from chant.resolver import Resolver
    from chant.shapes import Shape


def check_params(r: Resolver, op: Op) -> None:
    """The Op's parameter declarations and the values its schedule runs with."""
    declared = op.params
    if not isinstance(declared, Mapping):
        r.problem(
            f"params must be a dict of name to Param(...), got {shown(declared)}",
            op.origin,
            hint='write params={"version": Param(str, help="image tag")}',
        )
        declared = {}
    for name, param in declared.items():
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name) or len(name) > MAX_NAME:
            r.problem(
                f"parameter name {short_repr(name)} is not an identifier",
                getattr(param, "origin", None) or op.origin,
                hint='use letters, digits and _ (not a digit first), e.g. "image_tag"',
            )
            continue
        what = f'parameter "{name}"'
        if not isinstance(param, Param):
            r.problem(
                f"{what} must be a Param(...), got {shown(param)}",
                op.origin,
                hint=f'write "{name}": Param(str, help="...")',
            )
            continue
        _param(r, what, param, param.origin or op.origin)
    _schedule_params(r, op, declared)


def _param(r: Resolver, what: str, param: Param, where_: str | None) -> None:
    """One parameter's type, choices, default and help."""
    from chant.params import type_problem, value_problem

    if param_type_name(param.type) is None:
        r.problem(
            f"{what}: type must be str, int, float, bool or list[str], "
            f"got {short_repr(param.type)}",
            where_,
        )
        return
    choices = param.choices
    choices_ok = choices is None
    if choices is not None and (not isinstance(choices, tuple) or not choices):
        r.problem(
            f"{what}: choices must be a non-empty list, got {shown(choices)}",
            where_,
            hint='write choices=["staging", "prod"]',
        )
    elif choices is not None:
        item = Param(str) if param.type_name == "list" else param
        wrong = [c for c in choices if type_problem(item, c)]
        for choice in wrong[:1]:
            r.problem(f"{what}: choice {type_problem(item, choice)}", where_)
        choices_ok = not wrong
    if not param.required:
        why = (
            value_problem(param, param.default)
            if choices_ok
            else type_problem(param, param.default)
        )
        if why:
            r.problem(f"{what}: default {why}", where_)
    if not isinstance(param.help, str):
        r.problem(f"{what}: help must be a string, got {shown(param.help)}", where_)


def _schedule_params(r: Resolver, op: Op, declared: Mapping[str, object]) -> None:
    """The values ``schedule_params`` gives: one problem listing what does not fit, as
    ``chant schedule apply`` words it."""
    from chant.params import value_problem

    given = op.schedule_params
    if not isinstance(given, Mapping):
        r.problem(
            f"schedule_params must be a dict of name to value, got {shown(given)}",
            op.origin,
            hint='write schedule_params={"env": "prod"}',
        )
        return
    if given and op.schedule is None:
        r.problem(
            "schedule_params are given but the Op has no schedule",
            op.origin,
            hint="add schedule=... or remove schedule_params (a run takes NAME=value)",
        )
    params = {
        n: p
        for n, p in declared.items()
        if isinstance(n, str)
        and PARAM_NAME.fullmatch(n)
        and isinstance(p, Param)
        and param_type_name(p.type)
    }
    wrong = []
    for name in given:
        if name not in declared:
            hint = did_you_mean(str(name), list(params)) if params else "the Op has no parameters"
            wrong.append(f"unknown parameter {label(name)}" + (f" ({hint})" if hint else ""))
    for name, param in params.items():
        if name in given:
            why = value_problem(param, given[name])
            if why:
                wrong.append(f'parameter "{name}" {why}')
        elif param.required and op.schedule is not None:
            wrong.append(f'missing required parameter "{name}"')
    if wrong:
        import json  # only for the hint: a run without problems loads no json

        listed = ", ".join(
            f"{n} ({p.type_name}, "
            + ("required)" if p.required else f"default {json.dumps(p.default, default=str)})")
            for n, p in params.items()
        )
        r.problem(
            "schedule_params: " + "; ".join(wrong),
            op.origin,
            hint="Op(schedule_params=…) gives its scheduled runs their values; its "
            f"parameters: {listed or 'none'}",
        )


class Placed(NamedTuple):
    """A step where the Op declares it: what a reference to it may see."""

    id: str
    step: Step | None
    """None for a phase's condition."""
    group: int
    """0 for the main phases, 1 for on_failure."""
    phase: int
    at: int
    """The step's place in its phase; -1 for the phase's condition."""
    phase_name: str
    parallel: bool


ORDER_HINT = (
    "a step can use what the steps before it left: earlier in a sequential phase or in "
    "an earlier phase (an on_failure step: any main step too)"
)


class Flow:
    """The checks of what flows between steps, after every id is assigned: each
    reference names a declared parameter, or a step (an outcome) that has run before it,
    each ``out`` path fits the step's declared result, each ``when`` is a condition, and
    no comparison of a parameter is settled by its declaration."""

    def __init__(
        self, resolver: Resolver, phases: tuple[Phase, ...], on_failure: tuple[Phase, ...]
    ) -> None:
        self.r = resolver
        self.groups = (phases, on_failure)
        self.steps: dict[str, Placed] = {}
        self.publishers: dict[str, list[Placed]] = {}
        for placed in self.placed():
            self.steps.setdefault(placed.id, placed)
            outcome = getattr(placed.step, "outcome", None)
            if isinstance(outcome, Outcome) and isinstance(outcome.name, str):
                self.publishers.setdefault(outcome.name, []).append(placed)
        params = resolver.op.params
        self.params: Mapping[str, object] = params if isinstance(params, Mapping) else {}

    def placed(self) -> Iterator[Placed]:
        """Every step, in the order the Op declares them."""
        for group, phases in enumerate(self.groups):
            for p, phase in enumerate(phases):
                yield from self.of_phase(group, p, phase)

    def of_phase(self, group: int, p: int, phase: Phase) -> Iterator[Placed]:
        name, parallel = label(phase.name), phase.parallel is True
        for i, step in enumerate(phase.steps):
            if isinstance(step, ActivityStep | GateStep) and isinstance(step.id, str):
                yield Placed(step.id, step, group, p, i, name, parallel)

    def check(self) -> None:
        for group, phases in enumerate(self.groups):
            for p, phase in enumerate(phases):
                if phase.when is not None:
                    here = Placed("", None, group, p, -1, label(phase.name), False)
                    self.when(phase.when, f"phase {label(phase.name)}", here, phase.origin)
                for placed in self.of_phase(group, p, phase):
                    self.step(placed)

    def step(self, placed: Placed) -> None:
        step, what = placed.step, f'step "{placed.id}"'
        if isinstance(step, ActivityStep) and isinstance(step.args, Mapping):
            self.forms(step.args, what, step.origin, in_when=False)
            for ref in refs_in(step.args):  # type: ignore[arg-type]
                self.ref(ref, what, placed, step.origin)
        if step is not None and step.when is not None:
            self.when(step.when, what, placed, step.origin)

    def forms(self, node: object, what: str, origin: str | None, *, in_when: bool) -> bool:
        """Report malformed forms in ``node``; whether there were none."""
        found = form_problems(node, in_when=in_when)
        for why in found:
            top = why.startswith("when must be")
            prefix = f"{what}: when" if in_when and not top else what
            self.r.problem(f"{prefix}: {why}", origin, WHEN_HINT if top else None)
        return not found

    def when(self, node: JSON, what: str, here: Placed, origin: str | None) -> None:
        if not self.forms(node, what, origin, in_when=True):
            return
        for ref in refs_in(node):
            self.ref(ref, f"{what}: when", here, origin)
        for cmp in comparisons(node):
            self.comparison(cmp, f"{what}: when", origin)

    def ref(self, ref: Mapping[str, JSON], what: str, here: Placed, origin: str | None) -> None:
        kind = ref_kind(ref)
        name = str(ref[kind]) if kind else ""

        def said() -> str:  # only for a problem: written() loads json
            return f"{what}: {written(ref)}"

        if kind == "$param":
            if name not in self.params:
                hint = (
                    suggest(name, sorted(str(n) for n in self.params))
                    if self.params
                    else f'declare it: Op(..., params={{"{name}": Param(str)}})'
                )
                self.r.problem(f'{said()}: the Op has no parameter "{name}"', origin, hint)
        elif kind == "$out":
            target = self.steps.get(name)
            if target is None:
                self.r.problem(
                    f'{said()}: no step has id "{name}"',
                    origin,
                    hint=suggest(name, list(self.steps)),
                )
                return
            why = self.unseen(target, here)
            if why:
                self.r.problem(f"{said()}: {why}", origin, hint=ORDER_HINT)
                return
            path = ref.get("path")
            if isinstance(path, str) and is_dot_path(path):
                self.path(target, path, said, origin)
        elif kind == "$outcome":
            publishers = self.publishers.get(name)
            if not publishers:
                hint = did_you_mean(name, sorted(self.publishers)) or (
                    f'publish it from an earlier step with outcome="{name}"'
                )
                self.r.problem(f'{said()}: no step publishes outcome "{name}"', origin, hint)
                return
            reasons = [self.unseen(p, here) for p in publishers]
            if all(reasons):
                first = publishers[0]
                self.r.problem(
                    f'{said()}: only step "{first.id}" publishes it, and {reasons[0]}'
                    if len(publishers) == 1
                    else f"{said()}: none of the {len(publishers)} steps publishing it runs "
                    f'before this one (step "{first.id}": {reasons[0]})',
                    origin,
                    hint=ORDER_HINT,
                )

    def unseen(self, target: Placed, here: Placed) -> str | None:
        """Why ``target`` has not run when ``here`` (a step, or a phase's condition)
        starts, or None when it has."""
        step = f'step "{target.id}"'
        if target.group > here.group:
            return f"{step} is an on_failure step, which runs only after the Op fails"
        if target.group < here.group or target.phase < here.phase:
            return None
        at = where(target.step.origin) if target.step is not None else None
        later = f"{step} comes later" + (f" (declared at {at})" if at else "")
        if target.phase > here.phase:
            return later
        if here.at < 0:
            return f"{step} is in this phase, whose condition is evaluated before its steps run"
        if target.at == here.at:
            return "a step cannot use what it leaves itself"
        if here.parallel:
            return f"{step} runs alongside it in parallel phase {here.phase_name}"
        return later if target.at > here.at else None

    def path(self, target: Placed, path: str, said: Callable[[], str], origin: str | None) -> None:
        step = target.step
        if isinstance(step, GateStep):
            shape: Shape | None = GATE_RESULT
            owner = "the gate's result"
        elif step is None:
            return
        else:
            shape = self.r.results(step.fn) if isinstance(step.fn, str) else None
            owner = f"{step.fn}'s result"
        if shape is None:
            return
        found = path_problem(shape, path)
        if found:
            why, close = found
            hint = "did you mean " + " or ".join(f'"{c}"' for c in close) + "?" if close else None
            self.r.problem(f"{said()}: {owner} {why}", origin, hint)

    def comparison(self, node: Mapping[str, JSON], what: str, origin: str | None) -> None:
        op, left, right = node.get("$cmp"), node.get("left"), node.get("right")
        if op not in ("==", "!=", "in"):
            return
        for param_side, other, item in ((left, right, False), (right, left, op == "in")):
            name, param = self.param_of(param_side)
            found, value = literal(other)
            if param is None or not found:
                continue
            if op == "in" and not item:  # param("x").is_in([...]): can x be any of them?
                if not isinstance(value, list):
                    continue
                whys = [never_equal(name, param, v) for v in value]
                why = next((w for w in whys if w), None)
                verdict = " is never true" if all(whys) else ""
            elif op == "in":  # param("tags").contains(v)
                why, verdict = never_item(name, param, value), " is never true"
            else:
                why = never_equal(name, param, value)
                verdict = " is never true" if op == "==" else " is always true"
            if why:
                self.r.problem(f"{what}: {text(node)}{verdict}: {why[0]}", origin, why[1])

    def param_of(self, node: object) -> tuple[str, Param | None]:
        if ref_kind(node) != "$param":
            return "", None
        assert isinstance(node, Mapping)
        name = str(node["$param"])
        param = self.params.get(name)
        if isinstance(param, Param) and param_type_name(param.type) is not None:
            return name, param
        return name, None


def comparisons(node: object) -> list[Mapping[str, Any]]:
    """Every ``$cmp`` in condition ``node``, outermost first."""
    if not isinstance(node, Mapping) or set(node) == {"$lit"}:
        return []
    found: list[Mapping[str, Any]] = [node] if "$cmp" in node else []
    for key in ("$and", "$or"):
        if isinstance(node.get(key), list):
            found += [c for item in node[key] for c in comparisons(item)]
    for key in ("$not", "left", "right"):
        if key in node:
            found += comparisons(node[key])
    return found


def literal(node: object) -> tuple[bool, JSON]:
    """Whether ``node`` (one side of a comparison) is a literal value, and its value."""
    if isinstance(node, Mapping):
        if set(node) == {"$lit"}:
            return True, node["$lit"]
        return False, None
    if secret_name(node) is not None or dynamic(node):
        return False, None
    if isinstance(node, list | tuple):
        if any(isinstance(v, Mapping) or secret_name(v) is not None for v in node):
            return False, None
        return True, list(node)
    return True, node  # type: ignore[return-value]
