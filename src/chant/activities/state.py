"""The ``state_snapshot`` and ``state_diff`` activities: record an environment's state
and tell whether it drifted.

An environment is declared in ``chant.toml``::

    [environments.prod]
    observe = ["kubectl", "get", "all", "-A", "-o", "json"]

``observe`` is an argument vector (no shell) run from the project root; it must print
the environment's state as JSON on stdout.

Snapshots on disk
-----------------
Each snapshot of ``<env>`` is one file, ``.chant/state/<env>/<seq>-<UTC time>.json``
(e.g. ``000007-20260124T101502.123456Z.json``): the observed JSON, keys sorted and
indented, so two snapshots can be compared with ``diff``. ``seq`` counts up from
000001; the newest file is the one with the highest ``seq``, and no two snapshots share
one, however many runs take snapshots at once: a writer picks the next number and
renames its file into place while holding an exclusive ``flock`` on ``.lock`` in the
environment's folder. A file (mode 0600) is written
to a temporary ``.tmp-*`` file in the same folder, flushed, fsynced and then renamed into
place with ``os.replace``, so a snapshot file either does not exist or is complete: a
crash mid-write leaves at most a stray ``.tmp-*`` file (ignored, and removed by a later
snapshot once it is an hour old), never a corrupt "latest". The newest
``KEEP_SNAPSHOTS`` files are kept; older ones are deleted after each snapshot.

Resources
---------
A snapshot is compared resource by resource. Their identities:

* Kubernetes-style lists (a top-level object whose ``items`` is a list of objects each
  with ``kind`` and ``metadata.name``, as ``kubectl get ... -o json`` prints): each item
  is ``Kind/namespace/name``, or ``Kind/name`` when it has no namespace (cluster-scoped).
  When items are compared, fields Kubernetes rewrites on its own —
  ``metadata.resourceVersion``, ``metadata.managedFields``, ``metadata.generation`` and
  ``status`` — are left out, so only changes to what was declared count as drift (the
  snapshot file keeps everything).
* Any other object: each top-level key is a resource, its value the resource's state.
* Any other list: each index (``"0"``, ``"1"``, ...) is a resource.
* A lone scalar: one resource, ``"$"``.

The digest of a snapshot is the sha256 of its canonical JSON (keys sorted, no
whitespace, UTF-8) over the whole document, ignored fields included.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard, cast

from chant.activities.process import failure_message, require_tool, run_command
from chant.activities.registry import ActivityContext
from chant.errors import ActivityError, ChantError, CommandFailedError
from chant.files import atomic_write, locked, project_file_error
from chant.ir import JSON

STATE_DIR = Path(".chant") / "state"
"""Where snapshots live, relative to the project root: one folder per environment."""

KEEP_SNAPSHOTS = 50
"""How many snapshots of each environment are kept; older ones are deleted."""

STALE_TEMP_SECONDS = 3600.0
"""A ``.tmp-*`` file older than this was left by a crashed write and is removed."""

EXCERPT_CHARS = 60
"""How much of invalid observe output an ObserveOutputError quotes."""

LOGGED_IDS = 20
"""How many added / removed / changed ids ``state_diff`` logs of each kind."""

AGAINST = ("previous", "live")

LOCK_NAME = ".lock"
"""The file in each environment's folder whose ``flock`` serialises writers."""

_SNAPSHOT_NAME = re.compile(r"^(\d+)-[^/]*\.json$")
_K8S_IGNORED_METADATA = ("resourceVersion", "managedFields", "generation")


# --- errors -------------------------------------------------------------------------


def _fail(type: str, message: str) -> ActivityError:
    """A non-retryable ``ActivityError`` of ``type``: retrying cannot change the outcome."""
    return ActivityError(message, type=type, non_retryable=True)


# --- JSON, digests and resources -----------------------------------------------------


def canonical_json(data: JSON) -> bytes:
    """``data`` as canonical JSON: keys sorted, no whitespace, UTF-8."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(data: JSON) -> str:
    """The sha256 (hex) of ``data``'s canonical JSON."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _is_k8s_item(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
        return False
    metadata = item.get("metadata")
    return isinstance(metadata, dict) and isinstance(metadata.get("name"), str)


def is_k8s_list(data: JSON) -> TypeGuard[dict[str, Any]]:
    """Whether ``data`` looks like ``kubectl get ... -o json`` output: an object whose
    ``items`` is a list of objects that each have ``kind`` and ``metadata.name``."""
    if not isinstance(data, dict):
        return False
    items = data.get("items")
    return isinstance(items, list) and all(_is_k8s_item(i) for i in items)


def _k8s_id(item: Mapping[str, Any]) -> str:
    metadata = item["metadata"]
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace:
        return f"{item['kind']}/{namespace}/{metadata['name']}"
    return f"{item['kind']}/{metadata['name']}"


def _k8s_comparable(item: Mapping[str, Any]) -> dict[str, Any]:
    """``item`` without the fields Kubernetes changes by itself."""
    kept = {k: v for k, v in item.items() if k != "status"}
    kept["metadata"] = {k: v for k, v in item["metadata"].items() if k not in _K8S_IGNORED_METADATA}
    return kept


def resources(data: JSON) -> dict[str, JSON]:
    """The resources of a snapshot by identity (see the module docstring), each with the
    value that is compared. Two Kubernetes items with one identity (the same kind in two
    API groups) are told apart by ``#2``, ``#3``, ... in list order."""
    if is_k8s_list(data):
        found: dict[str, JSON] = {}
        for item in data["items"]:
            key = base = _k8s_id(item)
            n = 1
            while key in found:
                n += 1
                key = f"{base}#{n}"
            found[key] = _k8s_comparable(item)
        return found
    if isinstance(data, dict):
        return dict(data)
    if isinstance(data, list):
        return {str(i): v for i, v in enumerate(data)}
    return {"$": data}


def compare(old: JSON, new: JSON) -> dict[str, Any]:
    """What changed from snapshot ``old`` to ``new``: ``{drifted, added, removed,
    changed, summary}``, the id lists sorted."""
    before, after = resources(old), resources(new)
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(
        k
        for k in before.keys() & after.keys()
        if canonical_json(before[k]) != canonical_json(after[k])
    )
    counts = [(len(added), "added"), (len(removed), "removed"), (len(changed), "changed")]
    summary = ", ".join(f"{n} {what}" for n, what in counts if n) or "no drift"
    return {
        "drifted": bool(added or removed or changed),
        "added": added,
        "removed": removed,
        "changed": changed,
        "summary": summary,
    }


# --- files ----------------------------------------------------------------------------


def snapshots(folder: Path) -> list[Path]:
    """The complete snapshot files in ``folder``, oldest first (empty if none)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = _SNAPSHOT_NAME.match(name)
        if m:
            found.append((int(m.group(1)), name))
    return [folder / name for _, name in sorted(found)]


def _seq(path: Path) -> int:
    m = _SNAPSHOT_NAME.match(path.name)
    assert m is not None, f"not a snapshot file: {path}"
    return int(m.group(1))


def write_snapshot(folder: Path, data: JSON, *, keep: int = KEEP_SNAPSHOTS) -> Path:
    """Store ``data`` as the newest snapshot in ``folder`` (created if missing), written
    atomically; then delete all but the newest ``keep`` snapshots (0: keep all) and stray temporary
    files older than ``STALE_TEMP_SECONDS``. Returns the new file's path."""
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    folder.mkdir(parents=True, exist_ok=True)
    # Choosing the number and renaming the file into place happen under one lock, so
    # concurrent snapshots (two runs, or a parallel phase) never take the same number.
    with locked(folder / LOCK_NAME):
        existing = snapshots(folder)
        last = _seq(existing[-1]) if existing else 0
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = folder / f"{last + 1:06d}-{stamp}.json"
        atomic_write(
            path,
            (text + "\n").encode("utf-8"),
            prefix=".tmp-",
            suffix=".json",
            mode=0o600,  # an environment's state is nobody else's business
            durable=True,
        )
        _prune(folder, keep)
    return path


def _prune(folder: Path, keep: int) -> None:
    for old in snapshots(folder)[:-keep] if keep > 0 else ():
        with contextlib.suppress(OSError):
            old.unlink()
    now = time.time()
    for stray in folder.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if now - stray.stat().st_mtime > STALE_TEMP_SECONDS:
                stray.unlink()


def read_snapshot(path: Path) -> JSON:
    """The JSON stored in snapshot file ``path``."""
    try:
        return cast(JSON, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise _fail(
            "SnapshotReadError",
            f"cannot read snapshot {path}: {exc}; delete it or take a new snapshot",
        ) from None


# --- the environment and its observation ---------------------------------------------


def _environment(ctx: ActivityContext, env: str) -> tuple[Path, tuple[str, ...]]:
    """The project root and ``env``'s observe command, from the project's ``chant.toml``
    (the one around the current directory for a context without a project)."""
    from chant.config import CONFIG_NAME, load_config

    if not isinstance(env, str) or not env or env in (".", "..") or "/" in env or "\\" in env:
        raise _fail("InvalidArgumentError", f"env must be an environment's name, got {env!r}")
    if ctx.project is not None:
        config, here = ctx.project.config, ctx.project.root
    else:
        here = Path.cwd()
        try:
            config = load_config(here)
        except ChantError as exc:
            raise _fail("ConfigError", str(exc)) from None
    environment = config.environments.get(env)
    if environment is None:
        defined = ", ".join(sorted(config.environments)) or "none"
        where = _shown(config.file, here) if config.file else f"{CONFIG_NAME} (none found)"
        raise _fail(
            "UnknownEnvironmentError",
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


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


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
        "path": _shown(path, root),
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
            "InvalidArgumentError",
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
            f'{_shown(folder, root)} has {have}; run state_snapshot("{env}") first',
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
