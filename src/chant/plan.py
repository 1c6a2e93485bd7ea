"""Validate declared Ops and resolve them into runnable IR: pure functions, no I/O.

``resolve_op`` assigns step ids, turns profile names into full ``Profile`` objects and
checks everything it can, appending every ``Problem`` it finds rather than stopping
at the first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from chant.errors import ChantError, Problem
from chant.ir import JSON, ActivityStep, GateStep, Op, Phase, Profile, Secret, Step
from chant.profiles import BUILTIN_PROFILES, parse_duration

ArgsCheck = Callable[[str, Mapping[str, JSON]], "str | None"]
OP_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def where(origin: str | None) -> str | None:
    """An origin ``/abs/file.py:12`` shown relative to the current directory."""
    if not origin:
        return None
    path, _, line = origin.rpartition(":")
    if not path or not line.isdigit() or not os.path.isabs(path):
        return origin
    rel = os.path.relpath(path)
    return f"{path if rel.startswith('..') else rel}:{line}"


def slug(name: str) -> str:
    """``"Roll out App"`` → ``"roll-out-app"``: the phase part of a step id."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "phase"


def suggest(name: str, choices: list[str]) -> str:
    """A hint naming the choices closest to ``name`` (or listing them all)."""
    import difflib  # only needed on the error path

    close = [c for c in choices if name and (c.startswith(name) or name.startswith(c))]
    similar = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    close += [c for c in similar if c not in close]
    if close:
        return "did you mean " + " or ".join(f'"{c}"' for c in close) + "?"
    return "known: " + ", ".join(choices) if choices else "none are defined"


SCHEDULE_HELP = (
    'write a 5-field cron expression such as "*/5 * * * *" or "0 3 * * MON-FRI" '
    '(minute hour day-of-month month day-of-week), or an interval such as "every 1h"'
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def parse_schedule(text: object) -> float | None:
    """Check an Op's ``schedule``: the seconds between runs for ``every <duration>``
    (at least 1s), None for a 5-field cron expression. Raises ``ValueError`` saying
    what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("it is neither a cron expression nor an interval")
    words = text.split()
    if words[0] == "every":
        if len(words) != 2:
            raise ValueError('an interval is "every" and one duration, like "every 1h"')
        seconds = parse_duration(words[1])  # its ValueError names the accepted units
        if seconds < 1:
            raise ValueError("the interval is shorter than 1s")
        return seconds
    if len(words) != len(_CRON_FIELDS):
        fields = f"{len(words)} field{'s' if len(words) > 1 else ''}"
        raise ValueError(f"it has {fields}, but a cron expression has 5")
    for word, field in zip(words, _CRON_FIELDS, strict=True):
        why = _cron_field_problem(word, *field)
        if why:
            raise ValueError(why)
    return None


def _cron_field_problem(
    word: str, what: str, low: int, high: int, names: tuple[str, ...]
) -> str | None:
    """What is wrong with one cron field (``*``, ``5``, ``1-5``, ``*/15``, ``MON,WED``)."""
    for part in word.split(","):
        span, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return f'{what} "{word}": the step after / must be a whole number of at least 1'
        if span == "*":
            continue
        ends = span.split("-")
        if len(ends) > 2 or not all(ends):
            return f'{what} "{word}": "{part}" is not *, a value or a range a-b'
        for end in ends:
            if end.upper() in names:
                continue
            if not end.isdigit():
                named = f" or a name ({'/'.join(names[:2])}/…)" if names else ""
                return f'{what} "{word}": "{end}" is not a number{named}'
            if not low <= int(end) <= high:
                return f'{what} "{word}": {end} is out of range {low}-{high}'
    return None


class _Resolver:
    def __init__(
        self,
        op: Op,
        profiles: Mapping[str, Profile],
        activities: Mapping[str, str],
        problems: list[Problem],
        check_args: ArgsCheck | None = None,
    ) -> None:
        self.check_args = check_args
        self.op = op
        self.profiles = {**BUILTIN_PROFILES, **profiles}
        self.activities = activities
        self.problems = problems
        self.ids: dict[str, str | None] = {}

    def problem(self, message: str, origin: str | None, hint: str | None = None) -> None:
        self.problems.append(Problem(f'op "{self.op.name}": {message}', where(origin), hint))

    def duration(self, value: object, what: str, origin: str | None) -> None:
        try:
            parse_duration(value)  # type: ignore[arg-type]
        except ValueError as exc:
            self.problem(f"{what}: {exc}", origin)

    def resolve(self) -> Op:
        op = self.op
        if not isinstance(op.name, str) or not OP_NAME.match(op.name):
            self.problem(
                f"name {op.name!r} is not kebab-case",
                op.origin,
                hint='use lowercase words joined by "-", e.g. "deploy-api"',
            )
        if not op.phases:
            self.problem("has no phases", op.origin, hint="add at least one phase([...])")
        phases = tuple(self.phase(p, f"phases[{i}]") for i, p in enumerate(op.phases))
        on_failure = tuple(self.phase(p, f"on_failure[{i}]") for i, p in enumerate(op.on_failure))
        for key, value in op.search_attributes.items():
            if not isinstance(key, str) or not isinstance(value, str):
                self.problem(f"search attribute {key!r} must map a string to a string", op.origin)
        if op.schedule is not None:
            try:
                parse_schedule(op.schedule)
            except ValueError as exc:
                shown = f'"{op.schedule}"' if isinstance(op.schedule, str) else repr(op.schedule)
                self.problem(f"schedule {shown}: {exc}", op.origin, hint=SCHEDULE_HELP)
        return replace(op, phases=phases, on_failure=on_failure)

    def phase(self, phase: Phase, label: str) -> Phase:
        if not isinstance(phase, Phase):
            self.problem(f"{label} is not a phase(...)", self.op.origin)
            return Phase(name="?", steps=())
        if not phase.steps:
            self.problem(
                f'phase "{phase.name}" has no steps',
                phase.origin,
                hint="add a step (e.g. shell(...)) or remove the phase",
            )
        if not phase.parallel and (phase.fail_fast or phase.max_concurrency is not None):
            self.problem(
                f'phase "{phase.name}": fail_fast and max_concurrency need parallel=True',
                phase.origin,
                hint="add parallel=True or remove them",
            )
        if phase.max_concurrency is not None and (
            not isinstance(phase.max_concurrency, int) or phase.max_concurrency < 1
        ):
            self.problem(
                f'phase "{phase.name}": max_concurrency must be a positive integer', phase.origin
            )
        steps = tuple(
            self.step(s, phase, f"{slug(phase.name)}.{i}") for i, s in enumerate(phase.steps, 1)
        )
        return replace(phase, steps=steps)

    def step(self, step: Step, phase: Phase, default_id: str) -> Step:
        if not isinstance(step, ActivityStep | GateStep):
            self.problem(
                f'phase "{phase.name}": {step!r} is not a step',
                phase.origin,
                hint="steps are made by shell(...), activity(...) or gate(...)",
            )
            return step
        step_id = step.id or default_id
        if step_id in self.ids:
            first = where(self.ids[step_id])
            self.problem(
                f'duplicate step id "{step_id}" (first declared at {first})',
                step.origin,
                hint="give each step a unique id= (or leave ids to chant)",
            )
        self.ids[step_id] = step.origin
        if isinstance(step, GateStep):
            self.duration(step.timeout, f'gate "{step.signal}" timeout', step.origin)
            return replace(step, id=step_id)
        if step.fn not in self.activities:
            self.problem(
                f'step "{step_id}": unknown activity "{step.fn}"',
                step.origin,
                hint=suggest(step.fn, sorted(self.activities)),
            )
        self.args(step.args, f'step "{step_id}"', step.origin)
        if self.check_args is not None and step.fn in self.activities:
            try:
                why = self.check_args(step.fn, step.args)
            except ChantError as exc:  # the activity itself cannot be loaded
                self.problem(f'step "{step_id}": {exc.message}', step.origin, hint=exc.hint)
                why = None
            if why:
                self.problem(
                    f'step "{step_id}": arguments do not fit activity "{step.fn}": {why}',
                    step.origin,
                    hint="chant activities shows each activity's signature",
                )
        profile = self.profile(step, step_id)
        # A fresh ActivityStep: the DSL may hand over a subclass (see dsl.ActivityCall).
        return ActivityStep(
            fn=step.fn,
            args=step.args,
            id=step_id,
            profile=profile,
            outcome=step.outcome,
            origin=step.origin,
        )

    def args(self, value: JSON, what: str, origin: str | None) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str):
                    self.problem(f"{what}: argument keys must be strings, got {k!r}", origin)
                self.args(v, what, origin)
        elif isinstance(value, list | tuple):
            for v in value:
                self.args(v, what, origin)
        elif not isinstance(value, str | int | float | bool | Secret) and value is not None:
            self.problem(
                f"{what}: argument value {value!r} is not JSON data",
                origin,
                hint="use str, int, float, bool, None, lists, dicts or secret(...)",
            )

    def profile(self, step: ActivityStep, step_id: str) -> Profile | None:
        chosen = step.profile if step.profile is not None else self.activities.get(step.fn)
        if isinstance(chosen, Profile):
            profile = chosen
        elif isinstance(chosen, str) and chosen in self.profiles:
            profile = self.profiles[chosen]
        elif chosen is None:
            return None  # the unknown activity is reported already
        else:
            self.problem(
                f'step "{step_id}": unknown profile {chosen!r}',
                step.origin,
                hint=suggest(str(chosen), sorted(self.profiles))
                + " (profiles come from the built-ins and [profiles.*] in chant.toml)",
            )
            return None
        what = f'step "{step_id}" profile'
        self.duration(profile.timeout, f"{what} timeout", profile.origin or step.origin)
        if profile.heartbeat_timeout is not None:
            self.duration(
                profile.heartbeat_timeout,
                f"{what} heartbeat_timeout",
                profile.origin or step.origin,
            )
        self.duration(
            profile.retry.initial_interval,
            f"{what} retry initial_interval",
            profile.origin or step.origin,
        )
        if profile.retry.maximum_interval is not None:
            self.duration(
                profile.retry.maximum_interval,
                f"{what} retry maximum_interval",
                profile.origin or step.origin,
            )
        if not isinstance(profile.retry.max_attempts, int) or profile.retry.max_attempts < 0:
            self.problem(f"{what}: max_attempts must be 0 (unlimited) or more", step.origin)
        return profile


def resolve_op(
    op: Op,
    *,
    profiles: Mapping[str, Profile],
    activities: Mapping[str, str],
    problems: list[Problem],
    check_args: ArgsCheck | None = None,
) -> Op:
    """Return ``op`` with ids assigned and profiles resolved, appending problems found.

    ``profiles`` are the project's (they add to or replace the built-ins);
    ``activities`` maps each registered activity name to its default profile name;
    ``check_args(fn, args)`` says why ``args`` do not fit activity ``fn`` (or None).
    """
    return _Resolver(op, profiles, activities, problems, check_args).resolve()


def check_project(ops: list[tuple[Op, str]], problems: list[Problem]) -> None:
    """Problems that span Ops: duplicate names and unknown ``depends``."""
    seen: dict[str, str | None] = {}
    for op, _file in ops:
        if op.name in seen:
            problems.append(
                Problem(
                    f'duplicate Op name "{op.name}": declared at {where(seen[op.name])} '
                    f"and at {where(op.origin)}",
                    None,
                    hint="Op names must be unique in a project; rename one",
                )
            )
        else:
            seen[op.name] = op.origin
    for op, _file in ops:
        for dep in op.depends:
            if dep not in seen:
                problems.append(
                    Problem(
                        f'op "{op.name}": depends on unknown Op "{dep}"',
                        where(op.origin),
                        hint=suggest(dep, sorted(seen)),
                    )
                )


def gates(op: Op) -> list[tuple[GateStep, str]]:
    """Every gate of ``op`` (main phases and on_failure) with its phase name."""
    return [(s, p.name) for p, _ in op.all_phases() for s in p.steps if isinstance(s, GateStep)]


def secret_names(op: Op) -> list[str]:
    """The name of every ``secret(...)`` in ``op`` (main and on_failure phases), sorted."""
    from chant.ir import iter_secrets

    return sorted(
        {
            n
            for p, _ in op.all_phases()
            for s in p.steps
            if isinstance(s, ActivityStep)
            for n in iter_secrets(s.args)
        }
    )


def secret_values(op: Op, environ: Mapping[str, str]) -> dict[str, str]:
    """The value of every ``secret(...)`` in ``op``, read from ``environ``.

    Raises ``SecretNotSetError`` naming every missing variable at once. A value of
    only whitespace counts as empty: masking it would mask the spaces of every line.
    """
    from chant.errors import SecretNotSetError

    names = secret_names(op)
    missing = [n for n in names if not environ.get(n, "").strip()]
    if missing:
        raise SecretNotSetError(
            f'op "{op.name}" needs secret(s) not set (or empty) in the environment: '
            + ", ".join(missing),
            hint=f"export {missing[0]}=… before running (the value is masked as *** in all output)",
        )
    return {n: environ[n] for n in names}


def check_local(op: Op) -> None:
    """Reject what local mode cannot run (gates), before anything runs."""
    from chant.errors import GateNotSupportedError

    found = gates(op)
    if found:
        gate, phase_name = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise GateNotSupportedError(
            f'op "{op.name}" has gate "{gate.signal}" in phase "{phase_name}"{more}: gates wait '
            "for a human signal and need Temporal; local mode cannot run them",
            hint=f"run it on Temporal: chant run {op.name} --temporal",
        )
