"""An Op's runs on Temporal from Python: ``status``, ``history``, ``cancel``, ``signal``.

Each returns what its command prints with ``--json`` (``cancel`` and ``signal``, which
have no ``--json``, return what they did). Only ``chant.toml`` is read: no op file is
imported, so they work from any machine that can reach the cluster.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from chant.api.running import PathLike
    from chant.config import Config, TemporalProfile
    from chant.project import Project
    from chant.temporal.inspect import Runs


T = TypeVar("T")


def temporal_target(
    project: Project | PathLike | None, profile: str | None, command: str
) -> tuple[Config, TemporalProfile]:
    """The ``chant.toml`` and the Temporal profile a run-management call uses. Only
    ``chant.toml`` is read: no op file is imported."""
    from chant.config import load_config
    from chant.temporal.connect import pick_profile, require_temporal

    if project is None or isinstance(project, str | os.PathLike):
        config = load_config(Path(project) if project is not None else Path.cwd())
    else:
        config = project.config
    require_temporal(config, command)
    return config, pick_profile(config, profile)


def on_runs(
    command: str,
    project: Project | PathLike | None,
    profile: str | None,
    act: Callable[[Runs], Awaitable[T]],
    *,
    debug: bool | None = None,
) -> T:
    """Open the runs of ``project`` on ``profile``'s cluster and return what ``act``
    does with them; a failing cluster is ``RuntimeUnavailableError``. With ``debug``
    given, temporalio's log lines go to the project's ``.chant/logs/temporal.log``
    (and to stderr when True), as the CLI has them; None leaves logging alone."""
    config, picked = temporal_target(project, profile, command)
    from chant.temporal.inspect import Runs
    from chant.temporal.rpc import translated

    if debug is not None:
        from chant.temporal.connect import route_sdk_logs

        route_sdk_logs(config.root, debug=debug)

    async def go() -> T:
        return await act(await Runs.open(config, picked, profile))

    with translated(picked):
        return asyncio.run(go())


def status(
    name: str, *, project: Project | PathLike | None = None, profile: str | None = None
) -> dict[str, Any]:
    """The latest run of Op ``name`` on Temporal: ``chant status --json``'s document
    (state, phase, steps, waiting gates, approvals, outcomes, and ``params``: the
    parameter values it runs with, ``{}`` for an Op without any). ``NotRunningError``
    when it never ran."""
    return on_runs("status", project, profile, lambda runs: runs.status(name))


def history(
    name: str,
    *,
    limit: int = 10,
    project: Project | PathLike | None = None,
    profile: str | None = None,
) -> list[dict[str, Any]]:
    """The recent runs of Op ``name``, newest first: ``chant history --json``'s rows
    (``run_id``, ``status``, ``start``, ``duration_s``, ``outcomes``, and ``params``: the
    run's parameter values, ``{}`` for runs without any)."""
    return on_runs("history", project, profile, lambda runs: runs.history(name, limit))


def cancel(
    name: str,
    *,
    force: bool = False,
    project: Project | PathLike | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Cancel the open run of Op ``name`` (``force``: terminate it, no on_failure).
    Returns ``{"op", "workflow_id", "state", "task_queue", "worker"}``, ``state`` being
    ``cancelling``, ``requested`` (no worker polls its task queue yet: ``worker`` is the
    command that starts one) or ``terminated``. ``NotRunningError`` when none is open."""
    return on_runs("cancel", project, profile, lambda runs: runs.cancel(name, force=force))


def signal(
    name: str,
    signal: str,
    *,
    approver: str | None = None,
    note: str | None = None,
    project: Project | PathLike | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Send ``signal`` to the gate the open run of Op ``name`` waits at. Returns
    ``{"op", "workflow_id", "signal", "approver", "note"}``; ``UsageError`` when the
    run waits for no such signal, ``NotRunningError`` when none is open."""
    return on_runs(
        "signal",
        project,
        profile,
        lambda runs: runs.signal(name, signal, approver=approver, note=note),
    )
