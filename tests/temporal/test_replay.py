"""Recorded histories still replay: a change to the interpreter workflow that would break
runs already in flight (a renamed step id, a reordered activity call) fails here.

The histories come from ``tests/temporal/histories/record.py``; re-record them only
when a change is meant to break old runs, and say so in the commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from chant.temporal.worker import workflow_runner
from chant.temporal.workflow import ChantOpWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _replayer() -> Replayer:
    return Replayer(workflows=[ChantOpWorkflow], workflow_runner=workflow_runner())


def test_there_are_histories_to_replay() -> None:
    assert {p.stem for p in HISTORIES} >= {"happy", "exhausted", "fail-fast", "gated"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_a_recorded_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(f"chant-op-{path.stem}", path.read_text())
    result = asyncio.run(_replayer().replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_a_changed_interpreter_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check has teeth: naming activities differently breaks the replay."""
    from chant.temporal import workflow

    path = next(p for p in HISTORIES if p.stem == "exhausted")
    history = WorkflowHistory.from_json("chant-op-exhausted", path.read_text())
    monkeypatch.setattr(workflow, "activity_id", lambda step_id: f"renamed-{step_id}")
    result = asyncio.run(_replayer().replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is not None
    assert "renamed-deploy.1" in str(result.replay_failure)
