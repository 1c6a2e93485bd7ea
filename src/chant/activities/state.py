"""The ``state_snapshot`` and ``state_diff`` activities: record an environment's state
and tell whether it drifted.

An environment is declared in ``chant.toml``::

    [environments.prod]
    observe = ["kubectl", "get", "all", "-A", "-o", "json"]

``observe`` is an argument vector (no shell) run from the project root; it must print
the environment's state as JSON on stdout.

How snapshots are stored and compared: ``chant.activities.snapshots``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from chant.activities.process import failure_message, require_tool, run_command
from chant.activities.registry import ActivityContext
from chant.activities.snapshots import STATE_DIR as STATE_DIR
from chant.activities.snapshots import compare, digest, read_snapshot, resources, write_snapshot
from chant.activities.snapshots import fail as _fail
from chant.activities.snapshots import snapshots as snapshots
from chant.errors import ChantError, CommandFailedError, ErrorType
from chant.files import project_file_error
from chant.ir import JSON
from chant.names import relative

EXCERPT_CHARS = 60
"""How much of invalid observe output an ObserveOutputError quotes."""

LOGGED_IDS = 20
"""How many added / removed / changed ids ``state_diff`` logs of each kind."""

AGAINST = ("previous", "live")

# --- the environment and its observation ---------------------------------------------


def _environment(ctx: ActivityContext, env: str) -> tuple[Path, tuple[str, ...]]:
    """The project root and ``env``'s observe command, from the project's ``chant.toml``
    (the one around the current directory for a context without a project)."""
    from chant.config import CONFIG_NAME, load_config

    if not isinstance(env, str) or not env or env in (".", "..") or "/" in env or "\\" in env:
        raise _fail(ErrorType.INVALID_ARGUMENT, f"env must be an environment's name, got {env!r}")
    if ctx.project is not None:
        config, here = ctx.project.config, ctx.project.root
    else:
        here = Path.cwd()
        try:
            config = load_config(here)
        except ChantError as exc:
            raise _fail(ErrorType.CONFIG, str(exc)) from None
    environment = config.environments.get(env)
    if environment is None:
        defined = ", ".join(sorted(config.environments)) or "none"
        where = relative(config.file, here) if config.file else f"{CONFIG_NAME} (none found)"
        raise _fail(
            ErrorType.UNKNOWN_ENVIRONMENT,
            f'no environment "{env}" in {where} (defined: {defined}); to add it, write '
            f'[environments.{env}] with observe = ["command", "arg", ...] there: a command '
            "printing the environment's state as JSON",
        )
    return config.root, environment.observe


class _Capture(ActivityContext):
    """Runs a command for ``observe``: stdout is kept whole (it is the data, and
    ``run_command`` keeps only a tail) instead of being echoed; stderr is passed on.
    Heartbeats and cancellation are the outer attempt's."""

    def __init__(self, outer: ActivityContext) -> None:
        super().__init__(
            step_id=outer.step_id,
            attempt=outer.attempt,
            output=self._route,
            heartbeat_interval=outer.heartbeat_interval,
            kill_grace=outer.kill_grace,
        )
        self.outer = outer
        self.cancelled = outer.cancelled
        self.stdout: list[str] = []

    def _route(self, line: str, stream: str) -> None:
        if stream == "stdout":
            self.stdout.append(line)
        else:
            self.outer.output(line, stream)

    def heartbeat(self, details: JSON = None) -> None:
        super().heartbeat(details)
        self.outer.heartbeat(details)


def _excerpt(text: str, pos: int) -> str:
    start = max(0, min(pos, len(text)) - EXCERPT_CHARS // 2)
    piece = text[start : start + EXCERPT_CHARS]
    return ("…" if start else "") + piece + ("…" if start + EXCERPT_CHARS < len(text) else "")


async def _observe(ctx: ActivityContext, env: str, root: Path, argv: Sequence[str]) -> JSON:
    """Run ``env``'s observe command from ``root`` and parse what it prints."""
    shown = " ".join(argv)
    require_tool(
        argv[0],
        f"install it, or change [environments.{env}] observe in chant.toml (now: {shown})",
    )
    capture = _Capture(ctx)
    result = await run_command(capture, argv, cwd=str(root), raw_lines=True)
    what = f'observe command for "{env}" ({shown})'
    if result.exit_code != 0:
        raise CommandFailedError(failure_message(what, result), exit_code=result.exit_code)
    text = "\n".join(capture.stdout)
    if not text.strip():
        raise _fail("ObserveOutputError", f"{what} printed nothing; it must print JSON")
    try:
        return cast(JSON, json.loads(text, parse_constant=_no_constant))
    except json.JSONDecodeError as exc:
        raise _fail(
            "ObserveOutputError",
            f"{what} did not print valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}): {_excerpt(text, exc.pos)!r}",
        ) from None
    except ValueError as exc:
        raise _fail("ObserveOutputError", f"{what} did not print valid JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# --- the activities -------------------------------------------------------------------


async def state_snapshot(ctx: ActivityContext, env: str) -> dict[str, Any]:
    """Observe environment ``env`` and store what it printed as its newest snapshot.

    Args: ``env``, the name of an ``[environments.<env>]`` table in ``chant.toml`` whose
    ``observe`` command (run from the project root, no shell) prints JSON.

    Returns ``{env, path, digest, resources}``: ``path`` the snapshot file relative to
    the project root (``.chant/state/<env>/<seq>-<time>.json``), ``digest`` the sha256
    of the observed JSON in canonical form, ``resources`` how many resources it holds
    (see the module docstring for how they are told apart).

    Default profile: ``fast_idempotent``.

    Raises (non-retryable unless said otherwise): ``UnknownEnvironmentError`` (no such
    environment; the message lists those defined), ``ToolNotFoundError`` (the observe
    command is not on PATH), ``ObserveOutputError`` (it printed nothing or invalid
    JSON; the message quotes a short excerpt), ``ConfigError`` (``chant.toml`` is
    invalid), ``SnapshotWriteError`` (the snapshot folder cannot be written: the message
    names it, what failed and the fix); ``CommandFailedError`` (it exited non-zero;
    retryable).
    """
    root, argv = _environment(ctx, env)
    data = await _observe(ctx, env, root, argv)
    folder = root / STATE_DIR / env
    try:
        path = await asyncio.to_thread(write_snapshot, folder, data)
    except OSError as exc:
        error = project_file_error(exc, "write a snapshot in", folder, root=root)
        raise _fail("SnapshotWriteError", f"{error.message}; {error.hint}") from None
    result = {
        "env": env,
        "path": relative(path, root),
        "digest": digest(data),
        "resources": len(resources(data)),
    }
    count = result["resources"]
    ctx.log(
        f"snapshot of {env}: {count} resource{'' if count == 1 else 's'}, "
        f"sha256 {str(result['digest'])[:12]} → {result['path']}"
    )
    return result


async def state_diff(ctx: ActivityContext, env: str, against: str = "previous") -> dict[str, Any]:
    """Tell whether environment ``env`` drifted.

    Args: ``env``, an ``[environments.<env>]`` in ``chant.toml``; ``against``,
    ``"previous"`` (default) to compare the latest snapshot with the one before it, or
    ``"live"`` to compare the latest snapshot with a fresh observation (run now, and not
    stored).

    Returns ``{drifted, added, removed, changed, summary}``: the ids (sorted) of
    resources that appeared, disappeared or changed since the older state, and a
    summary such as ``"2 added, 1 changed"`` or ``"no drift"``. Each id is logged.

    Default profile: ``fast_idempotent``.

    Raises (non-retryable): ``InvalidArgumentError`` (``against`` is neither
    ``"previous"`` nor ``"live"``), ``UnknownEnvironmentError``,
    ``SnapshotMissingError`` (fewer than two snapshots for ``"previous"``, none for
    ``"live"``: run ``state_snapshot`` first), ``SnapshotReadError`` (a snapshot file
    cannot be read); with ``"live"`` also the errors of observing listed under
    ``state_snapshot``.
    """
    if against not in AGAINST:
        raise _fail(
            ErrorType.INVALID_ARGUMENT,
            f'state_diff: against must be "previous" or "live", got {against!r}',
        )
    root, argv = _environment(ctx, env)
    folder = root / STATE_DIR / env
    stored = snapshots(folder)
    needed = 2 if against == "previous" else 1
    if len(stored) < needed:
        have = "none" if not stored else "only one"
        wanted = "two snapshots" if needed == 2 else "a snapshot"
        raise _fail(
            "SnapshotMissingError",
            f'state_diff(against="{against}") needs {wanted} of "{env}" but '
            f'{relative(folder, root)} has {have}; run state_snapshot("{env}") first',
        )
    latest = read_snapshot(stored[-1])
    if against == "previous":
        diff = compare(read_snapshot(stored[-2]), latest)
        between = f"{stored[-2].name} → {stored[-1].name}"
    else:
        diff = compare(latest, await _observe(ctx, env, root, argv))
        between = f"{stored[-1].name} → live"
    ctx.log(f"{env}: {diff['summary']} ({between})")
    for sign, key in (("+", "added"), ("-", "removed"), ("~", "changed")):
        ids = diff[key]
        for rid in ids[:LOGGED_IDS]:
            ctx.log(f"  {sign} {rid}")
        if len(ids) > LOGGED_IDS:
            ctx.log(f"  {sign} … and {len(ids) - LOGGED_IDS} more {key}")
    return diff
