"""Secrets: which an Op declares, reading their values, and putting them into arguments.

An Op names secrets (``secret("TOKEN")``) and never holds their values. The values are
read from the environment of the process that runs the steps (``chant run`` for a local
run, the worker on Temporal) and are put into a step's arguments just before its
attempt. Every output is masked with them (``chant.events.Masker``).
"""

from __future__ import annotations

from collections.abc import Mapping

from chant.errors import SecretNotSetError
from chant.ir import JSON, ActivityStep, Arg, Op, Secret, iter_secrets


def secret_names(op: Op) -> list[str]:
    """The name of every ``secret(...)`` in ``op`` (main and on_failure phases), sorted."""
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
    names = secret_names(op)
    missing = [n for n in names if not environ.get(n, "").strip()]
    if missing:
        raise SecretNotSetError(
            f'op "{op.name}" needs secret(s) not set (or empty) in the environment: '
            + ", ".join(missing),
            hint=f"export {missing[0]}=… before running (the value is masked as *** in all output)",
        )
    return {n: environ[n] for n in names}


def resolve_secrets(value: Arg, secrets: Mapping[str, str]) -> JSON:
    """``value`` with every ``Secret`` replaced by its value from ``secrets``."""
    if isinstance(value, Secret):
        return secrets[value.name]
    if isinstance(value, Mapping):
        if set(value) == {"$format"} and isinstance(value["$format"], list):
            # An f-string holding a secret (references are resolved already).
            return "".join(str(resolve_secrets(p, secrets)) for p in value["$format"])
        return {k: resolve_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_secrets(v, secrets) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"not an argument value: {type(value).__name__}")


def resolve_args(args: Mapping[str, Arg], secrets: Mapping[str, str]) -> dict[str, JSON]:
    """A step's arguments with each ``Secret`` replaced by its value."""
    return {k: resolve_secrets(v, secrets) for k, v in args.items()}
