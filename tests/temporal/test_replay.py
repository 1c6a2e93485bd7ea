"""Recorded histories still replay: a change to the interpreter workflow that would break
runs already in flight (a reordered activity call, renamed activity ids) fails here.

The histories come from ``tests/temporal/histories/record.py``; re-record them only
when a change is meant to break old runs, and say so in the commit. The replay runs in
a subprocess (``histories/replay.py``) so that this process never loads temporalio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))


def _replay(*args: str) -> dict[str, str | None]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "replay.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # The SDK core logs its own warnings on stdout; the rows are the JSON lines.
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {row["file"]: row["failure"] for row in rows}


def test_every_recorded_history_replays_without_nondeterminism() -> None:
    assert {p.stem for p in HISTORIES} >= {"happy", "exhausted", "fail-fast", "gated"}
    assert _replay(*map(str, HISTORIES)) == {p.name: None for p in HISTORIES}


def test_a_changed_interpreter_is_caught() -> None:
    """The check has teeth: naming activities differently breaks the replay."""
    failures = _replay("--rename", str(HERE / "exhausted.json"))
    failure = failures["exhausted.json"]
    assert failure is not None
    assert "Nondeterminism" in failure
    assert (
        "Activity id of scheduled event 'deploy.1' does not match activity id of activity "
        "command 'renamed-deploy.1'"
    ) in failure
