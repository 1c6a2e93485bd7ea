"""The checks behind ``chant.plan.resolve_op``: every field of a declared Op, its
phases, steps, arguments, outcomes and profiles, with ids assigned and profile names
replaced by full profiles; then what flows between steps (``chant.flowcheck``). Every
problem is appended, none raised."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chant.argcheck import TooDeep, check_args
from chant.builders import BUILTIN_RESULTS, builtin_arg_problems
from chant.errors import ChantError, Problem
from chant.ir import SCHEMA_VERSION, ActivityStep, Arg, GateStep, Op, Outcome, Phase, Profile, Step
from chant.irvalues import has_forms
from chant.names import (
    CONTROL,
    MAX_NAME,
    OP_NAME,
    label,
    name_problem,
    search_attribute_problem,
    short_repr,
    shown,
    slug,
    suggest,
    where,
)
from chant.profiles import BUILTIN_PROFILES, duration_problem, parse_duration, profile_problems

if TYPE_CHECKING:
    from chant.shapes import Shape

ArgsCheck = Callable[[str, Mapping[str, Arg]], "str | None"]
ResultShapes = Callable[[str], "Shape | None"]
"""The declared result of activity ``fn`` (``chant.shapes``), None when not known."""


class Resolver:
    def __init__(
        self,
        op: Op,
        profiles: Mapping[str, Profile],
        activities: Mapping[str, str] | None,
        problems: list[Problem],
        check_args: ArgsCheck | None = None,
        results: ResultShapes | None = None,
    ) -> None:
        self.check_args = check_args
        self.results: ResultShapes = results or BUILTIN_RESULTS.get
        """The declared result of each activity: a project's, or the built-ins' only."""
        self.op = op
        self.profiles = {**BUILTIN_PROFILES, **profiles}
        self.activities = activities
        """Activity name → default profile; None checks a built IR (activities unknown)."""
        self.problems = problems
        self.ids: dict[str, str | None] = {}
        self.profile_checks: dict[int, list[tuple[str, str]]] = {}
        """``profile_problems`` of each profile object seen: steps share their profile's."""

    def problem(self, message: str, origin: str | None, hint: str | None = None) -> None:
        name = self.op.name
        # An Op whose name is itself the problem is shown as plain "Op".
        usable = isinstance(name, str) and len(name) <= MAX_NAME and not CONTROL.search(name)
        op = f'op "{name}"' if usable else "Op"
        self.problems.append(Problem(f"{op}: {message}", where(origin), hint))

    def duration(self, value: object, what: str, origin: str | None) -> None:
        try:
            parse_duration(value)
        except ValueError as exc:
            self.problem(f"{what}: {exc}", origin)

    def listed(self, value: object, what: str, origin: str | None, hint: str) -> tuple[Any, ...]:
        """``value`` as a tuple when it is a list, else a problem and ``()``."""
        if isinstance(value, tuple | list):
            return tuple(value)
        self.problem(f"{what} must be a list, got {shown(value)}", origin, hint=hint)
        return ()

    def checked(self) -> Op:
        """``resolve()``, but arguments nested too deeply end the check (reported)."""
        try:
            return self.resolve()
        except TooDeep:
            return self.op

    def resolve(self) -> Op:
        op = self.op
        if not isinstance(op.name, str) or not OP_NAME.fullmatch(op.name):
            self.problem(
                f"name {op.name!r} is not kebab-case"
                if isinstance(op.name, str)
                else f"name must be a string, got {shown(op.name)}",
                op.origin,
                hint='use lowercase words joined by "-", e.g. "deploy-api"',
            )
        elif len(op.name) > MAX_NAME:
            self.problem(
                f"name is {len(op.name)} characters long, over the limit of {MAX_NAME}", op.origin
            )
        hint = "write a list of phase(...)"
        main = self.listed(op.phases, "phases", op.origin, hint)
        if isinstance(op.phases, tuple | list) and not op.phases:
            self.problem("has no phases", op.origin, hint="add at least one phase([...])")
        compensation = self.listed(op.on_failure, "on_failure", op.origin, hint)
        phases = tuple(self.phase(p, f"phases[{i}]") for i, p in enumerate(main))
        on_failure = tuple(self.phase(p, f"on_failure[{i}]") for i, p in enumerate(compensation))
        self.fields(op)
        if _flows(op, phases + on_failure):
            # Only an Op with parameters, references or conditions loads their checks.
            from chant.flowcheck import Flow, check_params

            check_params(self, op)
            Flow(self, phases, on_failure).check()
        return replace(op, phases=phases, on_failure=on_failure)

    def fields(self, op: Op) -> None:
        """The Op's fields other than its phases."""
        if not isinstance(op.overview, str):
            self.problem(f"overview must be a string, got {shown(op.overview)}", op.origin)
        for dep in self.listed(op.depends, "depends", op.origin, 'write ["other-op", ...]'):
            if not isinstance(dep, str):
                self.problem(f"depends must list Op names, got {shown(dep)}", op.origin)
        if op.task_queue is not None:
            why = name_problem(op.task_queue)
            if why:
                self.problem(f"task_queue {why}", op.origin, hint="name a task queue, or omit it")
        if not isinstance(op.search_attributes, Mapping):
            self.problem(
                f"search_attributes must be a dict, got {shown(op.search_attributes)}",
                op.origin,
                hint='write {"Name": "value", ...}',
            )
        else:
            for key, value in op.search_attributes.items():
                if name_problem(key) or not isinstance(value, str) or "\x00" in value:
                    self.problem(
                        f"search attribute {short_repr(key)} must map a string to a string",
                        op.origin,
                        hint="names and values are strings without control characters",
                    )
                    continue
                why = search_attribute_problem(key, value)
                if why:
                    self.problem(f'search attribute "{key}" {why}', op.origin)
        if op.schedule is not None:
            from chant.cron import SCHEDULE_HELP, parse_schedule  # only Ops with a schedule

            try:
                parse_schedule(op.schedule)
            except ValueError as exc:
                text = (
                    f'"{op.schedule}"' if isinstance(op.schedule, str) else short_repr(op.schedule)
                )
                self.problem(f"schedule {text}: {exc}", op.origin, hint=SCHEDULE_HELP)
        if op.schema_version != SCHEMA_VERSION or isinstance(op.schema_version, bool):
            self.problem(
                f"schema_version must be {SCHEMA_VERSION}, got {shown(op.schema_version)}",
                op.origin,
                hint="leave schema_version out",
            )

    def phase(self, phase: Phase, label_: str) -> Phase:
        if not isinstance(phase, Phase):
            self.problem(
                f"{label_} is not a phase(...): got {shown(phase)}",
                self.op.origin,
                hint='write phase("Name", [steps...])',
            )
            return Phase(name="?", steps=())
        why = name_problem(phase.name)
        if why:
            self.problem(f"{label_} name {why}", phase.origin, hint='write phase("Name", [...])')
        name = label(phase.name)
        given = self.listed(
            phase.steps, f"phase {name}: steps", phase.origin, "write a list of steps"
        )
        if isinstance(phase.steps, tuple | list) and not phase.steps:
            self.problem(
                f"phase {name} has no steps",
                phase.origin,
                hint="add a step (e.g. shell(...)) or remove the phase",
            )
        for key in ("parallel", "fail_fast"):
            if not isinstance(getattr(phase, key), bool):
                self.problem(
                    f"phase {name}: {key} must be True or False, got {shown(getattr(phase, key))}",
                    phase.origin,
                )
        if phase.parallel is not True and (
            phase.fail_fast is True or phase.max_concurrency is not None
        ):
            self.problem(
                f"phase {name}: fail_fast and max_concurrency need parallel=True",
                phase.origin,
                hint="add parallel=True or remove them",
            )
        limit = phase.max_concurrency
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            self.problem(
                f"phase {name}: max_concurrency must be a positive integer, got {shown(limit)}",
                phase.origin,
            )
        prefix = slug(phase.name) if isinstance(phase.name, str) else "phase"
        steps = tuple(self.step(s, phase, f"{prefix}.{i}") for i, s in enumerate(given, 1))
        return replace(phase, steps=steps)

    def step(self, step: Step, phase: Phase, default_id: str) -> Step:
        if not isinstance(step, ActivityStep | GateStep):
            self.problem(
                f"phase {label(phase.name)}: {shown(step)} is not a step",
                phase.origin,
                hint="steps are made by shell(...), activity(...) or gate(...)",
            )
            return step
        step_id = default_id
        if step.id is not None:
            why = name_problem(step.id)
            if why:
                self.problem(f'step "{default_id}": id {why}', step.origin)
            else:
                step_id = step.id
        if step_id in self.ids:
            first = where(self.ids[step_id])
            self.problem(
                f'duplicate step id "{step_id}" (first declared at {first})',
                step.origin,
                hint="give each step a unique id= (or leave ids to chant)",
            )
        self.ids[step_id] = step.origin
        if isinstance(step, GateStep):
            self.gate(step)
            return replace(step, id=step_id)
        known = self.activity(step, step_id)
        profile = self.profile(step, step_id, known)
        if step.outcome is not None:
            self.outcome(step.outcome, step_id, step.origin)
        # A fresh ActivityStep: the DSL may hand over a subclass (see dsl.ActivityCall).
        return ActivityStep(
            fn=step.fn,
            args=step.args,
            id=step_id,
            profile=profile,
            outcome=step.outcome,
            when=step.when,
            origin=step.origin,
        )

    def gate(self, step: GateStep) -> None:
        why = name_problem(step.signal)
        if why:
            self.problem(f"gate signal {why}", step.origin, hint='write gate("approve-prod")')
            return
        why, _ = duration_problem(step.timeout, positive=True)
        if why:
            self.problem(f'gate "{step.signal}" timeout: {why}', step.origin)
        if not isinstance(step.description, str):
            self.problem(
                f'gate "{step.signal}" description must be a string, got {shown(step.description)}',
                step.origin,
            )

    def activity(self, step: ActivityStep, step_id: str) -> bool:
        """Check the activity name and arguments; whether the activity is known."""
        what = f'step "{step_id}"'
        if not isinstance(step.fn, str) or not step.fn:
            self.problem(
                f"activity name must be a non-empty string, got {shown(step.fn)}",
                step.origin,
                hint='write activity("name", ...)',
            )
            return False
        known = self.activities is None or step.fn in self.activities
        if not known:
            assert self.activities is not None
            self.problem(
                f'{what}: unknown activity "{step.fn}"',
                step.origin,
                hint=suggest(step.fn, sorted(self.activities)),
            )
        if not isinstance(step.args, Mapping):
            self.problem(f"{what}: args must be a dict, got {shown(step.args)}", step.origin)
            return known
        before = len(self.problems)
        check_args(step.args, what, step.origin, self.problem)
        # Arguments that are not JSON data at all are reported once, above.
        typed = builtin_arg_problems(step.fn, step.args) if len(self.problems) == before else []
        for why in typed:
            self.problem(
                f"{what}: {why}", step.origin, hint="chant activities shows each signature"
            )
        if self.check_args is not None and known:
            try:
                why_not = self.check_args(step.fn, step.args)
            except ChantError as exc:  # the activity itself cannot be loaded
                self.problem(f"{what}: {exc.message}", step.origin, hint=exc.hint)
                why_not = None
            if why_not:
                self.problem(
                    f'{what}: arguments do not fit activity "{step.fn}": {why_not}',
                    step.origin,
                    hint="chant activities shows each activity's signature",
                )
        return known

    def outcome(self, outcome: object, step_id: str, origin: str | None) -> None:
        what = f'step "{step_id}": outcome'
        hint = 'write outcome="Name" or outcome=Outcome("Name", "dot.path")'
        if not isinstance(outcome, Outcome):
            self.problem(
                f"{what} must be a name or Outcome(...), got {shown(outcome)}", origin, hint
            )
            return
        why = name_problem(outcome.name)
        if why is None and "=" in outcome.name:
            why = f"{outcome.name!r} holds '=' (outcomes are published as Name=value)"
        if why:
            self.problem(f"{what} name {why}", origin, hint)
        path = outcome.path
        if path is not None and (
            not isinstance(path, str) or not all(path.split(".")) or CONTROL.search(path)
        ):
            self.problem(
                f'{what} path must be a dot-path such as "stdout" or "items.0.id", '
                f"got {shown(path)}",
                origin,
                hint,
            )

    def profile(self, step: ActivityStep, step_id: str, known: bool) -> Profile | None:
        if step.profile is not None:
            chosen: object = step.profile
        elif self.activities is None:
            self.problem(f'step "{step_id}" has no profile', step.origin)
            return None
        elif not known:
            return None  # the unknown activity is reported already
        else:
            chosen = self.activities.get(step.fn)
        if isinstance(chosen, Profile):
            profile = chosen
        elif isinstance(chosen, str) and chosen in self.profiles:
            profile = self.profiles[chosen]
        elif chosen is None:
            return None
        else:
            hint = (
                suggest(chosen, sorted(self.profiles))
                + " (profiles come from the built-ins and [profiles.*] in chant.toml)"
                if isinstance(chosen, str)
                else 'write profile="name" or profile=Profile(...)'
            )
            what = repr(chosen) if isinstance(chosen, str) else f"{shown(chosen)}"
            self.problem(f'step "{step_id}": unknown profile {what}', step.origin, hint=hint)
            return None
        found = self.profile_checks.get(id(profile))
        if found is None:
            found = self.profile_checks[id(profile)] = profile_problems(profile)
        for key, why in found:
            self.problem(
                f'step "{step_id}" profile {key.replace(".", " ")}: {why}',
                profile.origin or step.origin,
                # A bad duration's message says how to write one already.
                hint=None if why.startswith("bad duration") else PROFILE_HINT,
            )
        return profile


def _flows(op: Op, phases: tuple[Phase, ...]) -> bool:
    """Whether ``op`` declares parameters or holds a reference, a condition or any other
    ``$`` form but secrets (even a malformed one, for the checks to report)."""
    if not isinstance(op.params, Mapping) or op.params:
        return True
    if not isinstance(op.schedule_params, Mapping) or op.schedule_params:
        return True
    for phase in phases:
        if phase.when is not None:
            return True
        for step in phase.steps:
            if getattr(step, "when", None) is not None:
                return True
            if isinstance(step, ActivityStep) and has_forms(step.args):
                return True
    return False


PROFILE_HINT = "docs/ops.md lists each profile field and its bounds"
