"""The builder functions users call in ``*.op.py`` files.

Each records where it was called (``file:line``) so build errors can point there.
Nothing is validated here: ``chant.plan`` checks a whole Op at once and reports every
problem together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from chant.ir import (
    ActivityStep,
    Arg,
    GateStep,
    Outcome,
    Phase,
    Profile,
    Secret,
    Step,
    caller_origin,
)

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
    when: object = None,
) -> Phase:
    """A phase named ``name``. Steps run in order unless ``parallel=True``.

    ``fail_fast`` (parallel only) cancels running siblings on the first failure;
    ``max_concurrency`` (parallel only) bounds how many steps run at once. ``when``
    (a condition, e.g. ``param("env") == "prod"``) skips every step of the phase when it
    does not hold.
    """
    return Phase(
        name=name,
        steps=steps,
        parallel=parallel,
        fail_fast=fail_fast,
        max_concurrency=max_concurrency,
        when=when,  # type: ignore[arg-type]  # a Condition: the IR keeps its JSON
        origin=caller_origin(1),
    )


def shell(
    cmd: str | Secret,
    env: Mapping[str, str | Secret] | None = None,
    cwd: str | Secret | None = None,
    profile: str | Profile | None = None,
    outcome: str | Outcome | None = None,
    *,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """Run ``cmd`` with ``/bin/sh -c`` in its own process group.

    ``env`` is merged over the environment; ``cwd`` defaults to the project root.
    Returns ``{exit_code, stdout, stderr}`` (tails, trailing whitespace stripped); a
    non-zero exit fails the attempt with ``CommandFailedError``. Default profile:
    ``fast_idempotent``. ``cmd``, ``env`` values and ``cwd`` may hold ``param(…)``,
    ``out(…)`` and ``secret(…)``, also inside f-strings; ``when`` is a condition.
    """
    args: dict[str, Arg] = {"cmd": cmd}
    if env:
        args["env"] = dict(env) if isinstance(env, Mapping) else env
    if cwd is not None:
        args["cwd"] = cwd
    return ActivityStep(
        fn="shell",
        args=args,
        id=id,
        profile=profile,
        outcome=_outcome(outcome),
        when=when,  # type: ignore[arg-type]  # a Condition: the IR keeps its JSON
        origin=caller_origin(1),
    )


class ActivityCall(ActivityStep):
    """What ``activity("name", ...)`` returns: a step, which can also decorate a function
    to register it under that name (``@activity("name", profile="long_infra")``)."""

    def __eq__(self, other: object) -> bool:
        # Equal to the plain ActivityStep it stands for (e.g. one read back from JSON).
        if isinstance(other, ActivityStep):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, fn: F) -> F:
        if self.args or self.outcome is not None or self.id is not None or self.when is not None:
            raise TypeError(
                "@activity(...) on a function takes only a name and profile=; "
                "arguments belong to the steps that call it"
            )
        if self.profile is not None and not isinstance(self.profile, str):
            raise TypeError("@activity(profile=...) takes a profile name")
        _register(fn, self.fn or None, self.profile, self.origin)
        return fn


def _register(fn: Any, name: str | None, profile: str | None, origin: str | None) -> None:
    from chant.activities.sources import declare

    fn.__chant_activity__ = {
        k: v for k, v in (("name", name), ("default_profile", profile)) if v is not None
    }
    declare(fn, name=name, default_profile=profile, source=origin)


@overload
def activity(name: F, /) -> F: ...


@overload
def activity(
    name: str | None = None,
    /,
    *,
    profile: str | Profile | None = None,
    outcome: str | Outcome | None = None,
    id: str | None = None,
    when: object = None,
    **args: object,
) -> ActivityCall: ...


def activity(
    name: str | F | None = None,
    /,
    *,
    profile: str | Profile | None = None,
    outcome: str | Outcome | None = None,
    id: str | None = None,
    when: object = None,
    **args: object,
) -> ActivityCall | F:
    """A step calling the registered activity ``name`` with keyword ``args``.

    As a decorator it registers a function as an activity instead: ``@activity`` under
    the function's own name, ``@activity("name")`` or ``@activity("name",
    profile="long_infra")`` under another name and with a default profile, and
    ``@activity(profile="long_infra")`` under its own name with a default profile. The function
    takes keyword arguments (and optionally ``ctx``) and returns JSON-able data; a plain
    ``def`` runs in a thread.
    """
    if callable(name):
        _register(name, None, None, caller_origin(1))
        return name
    # With no name this can only decorate (``@activity(profile=...)``): the function's
    # own name is used then.
    return ActivityCall(
        fn=name or "",
        args=args,  # type: ignore[arg-type]  # references become JSON in the step
        id=id,
        profile=profile,
        outcome=_outcome(outcome),
        when=when,  # type: ignore[arg-type]
        origin=caller_origin(1),
    )


def gate(
    signal: str,
    timeout: str = "48h",
    description: str = "",
    *,
    id: str | None = None,
    when: object = None,
) -> GateStep:
    """Wait for human approval: signal ``signal`` within ``timeout`` (Temporal only);
    ``when``: a condition, the gate is skipped when it does not hold."""
    return GateStep(
        signal=signal,
        timeout=timeout,
        description=description,
        id=id,
        when=when,  # type: ignore[arg-type]
        origin=caller_origin(1),
    )


def secret(name: str) -> Secret:
    """The value of environment variable ``name``, read at run time and masked as ``***``."""
    return Secret(name)
