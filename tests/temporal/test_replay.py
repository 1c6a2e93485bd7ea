"""Recorded histories still replay: a change to the interpreter workflow that would break
runs already in flight (a reordered activity call, renamed activity ids) fails here.

The histories come from ``tests/temporal/histories/record.py``; re-record them only
when a change is meant to break old runs, and say so in the commit. The replay runs in
a subprocess (``histories/replay.py``) so that this process never loads temporalio."""

from __future__ import annotations

import base64
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
    expected = {"happy", "exhausted", "fail-fast", "gated", "passing-data"}
    assert {p.stem for p in HISTORIES} >= expected
    assert _replay(*map(str, HISTORIES)) == {p.name: None for p in HISTORIES}


def test_a_run_passing_data_replays_its_references_and_conditions() -> None:
    """The run of ``passing-data`` (parameter values in its input, ``out()``,
    ``outcome()`` and f-strings in its steps' arguments, a step and a phase under
    ``when=``) scheduled its activities with the values resolved from its input and the
    recorded results; the replay resolves them again, to the same arguments."""
    history = json.loads((HERE / "passing-data.json").read_text())
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    (payload,) = started["input"]["payloads"]
    assert json.loads(base64.b64decode(payload["data"]))["params"] == {
        "env": "staging",
        "version": "2.0",
    }
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityId"]
        for e in history["events"]
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert scheduled == ["build", "deploy", "announce"]  # "smoke" skipped by its condition
    assert _replay(str(HERE / "passing-data.json")) == {"passing-data.json": None}


def test_a_run_given_other_values_is_caught(tmp_path: Path) -> None:
    """The same history with ``env=prod`` in its input: the conditions now pick another
    step ("smoke", not "announce"), and the replay says the run does not match."""
    history = json.loads((HERE / "passing-data.json").read_text())
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    (payload,) = started["input"]["payloads"]
    given = json.loads(base64.b64decode(payload["data"]))
    given["params"]["env"] = "prod"
    payload["data"] = base64.b64encode(json.dumps(given).encode()).decode()
    changed = tmp_path / "passing-data.json"
    changed.write_text(json.dumps(history))
    failure = _replay(str(changed))["passing-data.json"]
    assert failure is not None
    assert "Nondeterminism" in failure
    assert (
        "Activity id of scheduled event 'announce' does not match activity id of activity "
        "command 'smoke'"
    ) in failure


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
