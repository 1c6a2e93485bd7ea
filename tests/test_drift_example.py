"""examples/drift-check runs as its README says, in a copy so the example stays clean."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from conftest import Ran

DRIFT_CHECK = Path(__file__).parent.parent / "examples" / "drift-check"


def test_drift_check_reports_no_drift_then_drift(
    tmp_path: Path, chant_proc: Callable[..., Ran]
) -> None:
    copy = tmp_path / "drift-check"
    shutil.copytree(DRIFT_CHECK, copy, ignore=shutil.ignore_patterns(".chant", "cache.on"))

    first = chant_proc("run", "drift-check", cwd=copy)
    assert first.code == 0, first.err
    assert "[outcome] Drift=false" in first.out
    assert "demo: no drift" in first.out

    (copy / "cache.on").touch()  # observe.sh now reports a "cache" resource
    second = chant_proc("run", "drift-check", cwd=copy)
    assert second.code == 0, second.err
    assert "[outcome] Drift=true" in second.out
    assert "demo: 1 added" in second.out
    assert "+ cache" in second.out

    # Nothing changed since: no drift. Then the README's second recipe.
    third = chant_proc("run", "drift-check", cwd=copy)
    assert "[outcome] Drift=false" in third.out
    (copy / "cache.on").unlink()
    fourth = chant_proc("run", "drift-check", cwd=copy, env={"DEMO_API_REPLICAS": "3"})
    assert "[outcome] Drift=true" in fourth.out
    assert "demo: 1 removed, 1 changed" in fourth.out

    snapshots = sorted((copy / ".chant" / "state" / "demo").glob("*.json"))
    assert len(snapshots) == 5  # the baseline, then one per run
