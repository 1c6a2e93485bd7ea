"""The builder functions users call in ``*.op.py`` files.

Each records where it was called (``file:line``) so build errors can point there.
Nothing is validated here: ``chant.plan`` checks a whole Op at once and reports every
problem together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from chant.ir import JSON, ActivityStep, GateStep, Outcome, Phase, Profile, Secret, Step, _origin

F = TypeVar("F", bound=Callable[..., Any])


def _outcome(value: str | Outcome | None) -> Outcome | None:
    return Outcome(value) if isinstance(value, str) else value


def phase(
    name: str,
    steps: Sequence[Step],
    *,
    parallel: bool = False,
    fail_fast: bool = False,
    max_concurrency: int | None = None,
) -> Phase:
    """A phase named ``name``. Steps run in order unless ``parallel=True``.

    ``fail_fast`` (parallel only) cancels running siblings on the first failure;
    ``max_concurrency`` (parallel only) bounds how many steps run at once.
    """
    return Phase(
        name=name,
        steps=steps,
        parallel=parallel,
        fail_fast=fail_fast,
        max_concurrency=max_concurrency,
        origin=_origin(1),
    )


def shell(
    cmd: str | Secret,
    env: Mapping[str, str | Secret] | None = None,
    cwd: str | None = None,
    profile: str | Profile | None = None,
    outcome: str | Outcome | None = None,
    *,
    id: str | None = None,
) -> ActivityStep:
    """Run ``cmd`` with ``/bin/sh -c`` in its own process group.

    ``env`` is merged over the environment; ``cwd`` defaults to the project root.
    Returns ``{exit_code, stdout, stderr}`` (tails, trailing whitespace stripped); a
    non-zero exit fails the attempt with ``CommandFailedError``. Default profile:
    ``fast_idempotent``.
    """
    args: dict[str, JSON] = {"cmd": cmd}
    if env:
        args["env"] = dict(env)
    if cwd is not None:
        args["cwd"] = cwd
    return ActivityStep(
        fn="shell",
        args=args,
        id=id,
        profile=profile,
        outcome=_outcome(outcome),
        origin=_origin(1),
    )


@overload
def activity(name: F, /) -> F: ...


@overload
def activity(
    name: str,
    /,
    *,
    profile: str | Profile | None = None,
    outcome: str | Outcome | None = None,
    id: str | None = None,
    **args: JSON,
) -> ActivityStep: ...


def activity(
    name: str | F,
    /,
    *,
    profile: str | Profile | None = None,
    outcome: str | Outcome | None = None,
    id: str | None = None,
    **args: JSON,
) -> ActivityStep | F:
    """Call the registered activity ``name`` with keyword ``args``.

    Used as a bare decorator (``@activity``) on a function, registers that function as an
    activity under its own name instead.
    """
    if callable(name):
        from chant.activities.registry import declare

        declare(name, source=_origin(1))
        return name
    return ActivityStep(
        fn=name, args=args, id=id, profile=profile, outcome=_outcome(outcome), origin=_origin(1)
    )


def gate(
    signal: str,
    timeout: str = "48h",
    description: str = "",
    *,
    id: str | None = None,
) -> GateStep:
    """Wait for human approval: signal ``signal`` within ``timeout`` (Temporal only)."""
    return GateStep(
        signal=signal, timeout=timeout, description=description, id=id, origin=_origin(1)
    )


def secret(name: str) -> Secret:
    """The value of environment variable ``name``, read at run time and masked as ``***``."""
    return Secret(name)
