"""What ``chant run`` prints: the human view, ``--json`` and ``--progress-json``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from conftest import Ran

OPS = """
from chant import Op, Outcome, Profile, Retry, phase, shell

QUICK = Profile(timeout="10s", retry=Retry(max_attempts=3, initial_interval="10ms"))

story = Op(
    name="story",
    overview="A bit of everything",
    phases=[
        phase("Greet", [
            shell("echo hello; echo note >&2", outcome=Outcome("Greeting", "stdout")),
            shell("test -f .tried || { touch .tried; echo not yet >&2; exit 1; }; echo ok",
                  profile=QUICK),
        ]),
        phase("Break", [shell("echo boom >&2; exit 4", profile="policy_check"), shell("true")]),
        phase("Never", [shell("echo never")]),
    ],
    on_failure=[phase("Undo", [shell("echo undoing")])],
)

fine = Op(
    name="fine",
    phases=[phase("Only", [shell("echo '{\\"n\\": 3}'", outcome=Outcome("Count", "stdout"))])],
)
"""

GOLDEN = """\
[phase] Greet
  ▸ greet.1  echo hello; echo note >&2
      hello
      note
  ✓ greet.1  echo hello; echo note >&2 (T)
[outcome] Greeting=hello
  ▸ greet.2  test -f .tried || { touch .tried; echo not yet >&2; exit 1; }; echo ok
      not yet
  ↻ greet.2 attempt 1/3 failed: CommandFailedError: command exited with 1: not yet — retrying in \
10ms
      ok
  ✓ greet.2  test -f .tried || { touch .tried; echo not yet >&2; exit 1; }; echo ok (T, 2 attempts)
[phase] Break
  ▸ break.1  echo boom >&2; exit 4
      boom
  ✗ break.1  echo boom >&2; exit 4 (T)
      CommandFailedError: command exited with 4: boom
  – break.2  true (skipped)
[phase] Never (skipped)
  – never.1  echo never (skipped)
[compensation] step break.1 failed — running on_failure phases
[phase] Undo (on_failure)
  ▸ undo.1  echo undoing
      undoing
  ✓ undo.1  echo undoing (T)
Op "story" failed after T: step break.1 failed: CommandFailedError: command exited with 4: boom
"""

TIME = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s)\b(?=[),:])|(?<=after )\d+(?:\.\d+)?(?:ms|s)")


def project(make_project: Callable[..., Path]) -> Path:
    return make_project({"ops/story.op.py": OPS})


def test_the_human_view_matches_the_golden_output(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    ran = chant("run", "story", "--local", cwd=project(make_project))
    assert ran.code == 1
    # Durations vary run to run; the retry delay (10ms) is part of the contract.
    assert TIME.sub("T", ran.out) == GOLDEN
    assert ran.err == ""


def test_a_successful_run_ends_with_completed(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    ran = chant("run", "fine", "--local", cwd=project(make_project))
    assert ran.code == 0
    assert '[outcome] Count={"n": 3}' in ran.out
    assert re.search(r'^Op "fine" completed in \d+(\.\d+)?(ms|s)$', ran.out, re.M)


def test_json_prints_one_document_with_every_step(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    ran = chant("run", "story", "--local", "--json", cwd=project(make_project))
    assert ran.code == 1
    doc = json.loads(ran.out)
    assert {"op", "mode", "ok", "duration_ms", "steps"} <= set(doc)
    assert (doc["op"], doc["mode"], doc["ok"], doc["status"]) == ("story", "local", False, "failed")
    assert isinstance(doc["duration_ms"], int)
    keys = {
        "id",
        "phase",
        "fn",
        "args",
        "status",
        "attempts",
        "duration_ms",
        "outcome",
        "result",
        "error",
    }
    assert all(keys <= set(step) for step in doc["steps"])
    by_id = {s["id"]: s for s in doc["steps"]}
    assert [s["status"] for s in doc["steps"]] == ["ok", "ok", "failed", "skipped", "skipped", "ok"]
    assert by_id["greet.1"]["outcome"] == {"name": "Greeting", "value": "hello"}
    assert by_id["greet.1"]["result"] == {"exit_code": 0, "stdout": "hello", "stderr": "note"}
    assert by_id["greet.1"]["args"] == {"cmd": "echo hello; echo note >&2"}
    assert by_id["greet.2"]["attempts"] == 2
    assert by_id["break.1"]["error"] == {
        "type": "CommandFailedError",
        "message": "command exited with 4: boom",
    }
    assert by_id["never.1"]["outcome"] is None and by_id["never.1"]["result"] is None
    assert by_id["undo.1"]["phase"] == "Undo"
    # Progress still shows, on stderr.
    assert "[phase] Greet" in ran.err and 'Op "story" failed' in ran.err


def test_progress_json_streams_one_event_per_line(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    ran = chant("run", "story", "--local", "--progress-json", cwd=project(make_project))
    assert ran.code == 1
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert all({"v", "type", "seq", "ts", "run_id", "op"} <= set(e) for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["run_id"] for e in events}) == 1
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert set(types) == {
        "run_started",
        "phase_started",
        "step_started",
        "step_output",
        "step_retrying",
        "step_finished",
        "phase_finished",
        "compensation_started",
        "run_finished",
    }
    output = [(e["step"], e["stream"], e["line"]) for e in events if e["type"] == "step_output"]
    assert ("greet.1", "stdout", "hello") in output and ("greet.1", "stderr", "note") in output
    retry = next(e for e in events if e["type"] == "step_retrying")
    assert (retry["step"], retry["attempt"], retry["delay_ms"]) == ("greet.2", 1, 10)
    last = events[-1]
    assert (last["ok"], last["status"], last["failed_step"]) == (False, "failed", "break.1")
    assert "[phase]" not in ran.err


def test_colour_is_off_when_stdout_is_not_a_terminal(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    ran = chant("run", "fine", "--local", cwd=project(make_project))
    assert "\x1b[" not in ran.out
