"""Where a project's activities come from besides the built-ins: the functions its files
declare with ``@activity`` while they are imported (``collecting``), and the
``chant.activities`` entry points of installed packages."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from chant.activities.registry import ActivityDef
from chant.profiles import DEFAULT_PROFILE

_collectors: list[list[ActivityDef]] = []
"""The lists collecting ``@activity`` declarations while a project loads (innermost
last); empty outside a load, so nothing accumulates across loads."""


@contextlib.contextmanager
def collecting() -> Iterator[list[ActivityDef]]:
    """Collect the activities declared with ``@activity`` while the block runs: discovery
    imports a project's files inside it and builds the project's registry from the list."""
    found: list[ActivityDef] = []
    _collectors.append(found)
    try:
        yield found
    finally:
        _collectors.remove(found)


def declare(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    default_profile: str | None = None,
    source: str | None = None,
) -> ActivityDef:
    """The activity ``fn`` (decorated with ``@activity``), added to the declarations
    being collected (``collecting``), if any."""
    defn = ActivityDef(
        name=name or fn.__name__,
        fn=fn,
        default_profile=default_profile or DEFAULT_PROFILE,
        source=source or fn.__module__,
    )
    if _collectors:
        _collectors[-1].append(defn)
    return defn


def entry_point_activities() -> list[ActivityDef]:
    """Activities that installed packages expose in the ``chant.activities`` group.

    An entry point names one activity function (``name = "pkg.mod:fn"``), whose
    ``@activity`` settings, if any, are kept. An entry point that cannot be loaded (its
    import raises anything, even ``SystemExit``, or its target is missing or not
    callable) becomes a ``broken`` activity: listed, and an error only for a step that
    uses it. What the import prints goes to stderr, so ``--json`` output stays valid.
    """
    import sys
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group="chant.activities"):
        source = f"entry point {ep.name} = {ep.value}" + (
            f" ({ep.dist.name})" if ep.dist is not None else ""
        )
        try:
            with contextlib.redirect_stdout(sys.stderr):
                fn = ep.load()
            if not callable(fn):
                raise TypeError(f"{ep.value} is not callable (it is of type {type(fn).__name__})")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken package must not take chant down with it
            found.append(ActivityDef(name=ep.name, source=source, broken=_describe(exc)))
            continue
        meta = getattr(fn, "__chant_activity__", {})
        found.append(
            ActivityDef(
                name=meta.get("name", ep.name),
                fn=fn,
                default_profile=meta.get("default_profile", DEFAULT_PROFILE),
                source=source,
            )
        )
    return found


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
