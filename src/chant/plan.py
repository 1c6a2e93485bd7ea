"""Validate declared Ops and resolve them into a runnable ``Plan``: pure functions, no I/O.

``resolve_op`` assigns step ids, turns profile names into full ``Profile`` objects and
checks everything it can (``chant.resolver``), appending every ``Problem`` it finds
rather than stopping at the first; ``resolve`` then makes the ``Plan`` both executors
walk (``chant.planned``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from chant.errors import Problem
from chant.ir import ActivityStep, GateStep, Op, Phase, Profile, Step
from chant.names import suggest, where
from chant.planned import Plan
from chant.resolver import ArgsCheck, Resolver, ResultShapes


def resolve_op(
    op: Op,
    *,
    profiles: Mapping[str, Profile],
    activities: Mapping[str, str],
    problems: list[Problem],
    check_args: ArgsCheck | None = None,
    results: ResultShapes | None = None,
) -> Op:
    """Return ``op`` with ids assigned and profiles resolved, appending problems found.

    ``profiles`` are the project's (they add to or replace the built-ins);
    ``activities`` maps each registered activity name to its default profile name;
    ``check_args(fn, args)`` says why ``args`` do not fit activity ``fn`` (or None);
    ``results(fn)`` is the declared result of activity ``fn`` (``chant.shapes``; default:
    the built-ins' only), against which each ``out(step, path)`` is checked.
    Every field is checked for type and value; nothing here raises for a bad Op.
    """
    return Resolver(op, profiles, activities, problems, check_args, results).checked()


def check_ir(op: Op) -> list[Problem]:
    """Every problem in an already built Op (read back from its IR): the checks of
    ``resolve_op`` except those needing the project (activities, named profiles, the
    results of the project's activities)."""
    problems: list[Problem] = []
    Resolver(op, {}, None, problems).checked()
    return problems


def check_project(
    ops: list[tuple[Op, str]], problems: list[Problem], *, of: str | None = None
) -> None:
    """Problems that span Ops: duplicate names and unknown ``depends`` (only those of
    the Op named ``of``, when given)."""
    seen: dict[str, str | None] = {}
    for op, _file in ops:
        if not isinstance(op.name, str):
            continue  # reported by resolve_op
        if op.name in seen and of in (None, op.name):
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
        if not isinstance(op.name, str) or not isinstance(op.depends, tuple | list):
            continue
        if of is not None and op.name != of:
            continue
        for dep in op.depends:
            if isinstance(dep, str) and dep not in seen:
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


def single_attempt(op: Op) -> Op:
    """``op`` with every activity step (main and on_failure phases) limited to one
    attempt: ``chant run --no-retry``, for a quick dev loop. Timeouts are kept."""

    def once(step: Step) -> Step:
        if not isinstance(step, ActivityStep) or not isinstance(step.profile, Profile):
            return step
        retry = replace(step.profile.retry, max_attempts=1)
        return replace(step, profile=replace(step.profile, retry=retry))

    def phases(group: tuple[Phase, ...]) -> tuple[Phase, ...]:
        return tuple(replace(p, steps=tuple(once(s) for s in p.steps)) for p in group)

    return replace(op, phases=phases(tuple(op.phases)), on_failure=phases(tuple(op.on_failure)))


def resolve(
    op: Op,
    *,
    profiles: Mapping[str, Profile],
    activities: Mapping[str, str],
    check_args: ArgsCheck | None = None,
) -> Plan:
    """The ``Plan`` of ``op``: resolved and checked as ``resolve_op`` does, then planned.
    Raises ``ValidationError`` with every problem found."""
    from chant.errors import ValidationError

    problems: list[Problem] = []
    resolved = resolve_op(
        op, profiles=profiles, activities=activities, problems=problems, check_args=check_args
    )
    if problems:
        raise ValidationError(problems)
    return Plan.of(resolved)
