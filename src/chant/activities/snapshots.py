"""How ``state_snapshot`` stores an environment's state and ``state_diff`` compares two.

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

import contextlib
import datetime
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard, cast

from chant.errors import ActivityError
from chant.files import atomic_write, locked
from chant.ir import JSON

STATE_DIR = Path(".chant") / "state"
"""Where snapshots live, relative to the project root: one folder per environment."""

KEEP_SNAPSHOTS = 50
"""How many snapshots of each environment are kept; older ones are deleted."""

STALE_TEMP_SECONDS = 3600.0
"""A ``.tmp-*`` file older than this was left by a crashed write and is removed."""

LOCK_NAME = ".lock"
"""The file in each environment's folder whose ``flock`` serialises writers."""

_SNAPSHOT_NAME = re.compile(r"^(\d+)-[^/]*\.json$")
_K8S_IGNORED_METADATA = ("resourceVersion", "managedFields", "generation")


def fail(type: str, message: str) -> ActivityError:
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
        raise fail(
            "SnapshotReadError",
            f"cannot read snapshot {path}: {exc}; delete it or take a new snapshot",
        ) from None
