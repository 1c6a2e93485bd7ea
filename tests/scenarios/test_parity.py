"""Parity: every fixture Op gives the same normalised result locally and on Temporal.

Each scenario runs ``chant run NAME --json`` in both modes (a real subprocess each,
the Temporal one against the session's dev server with a worker in the process) and
compares statuses, attempts, outcomes, errors, the order of steps and compensation,
and the exit code. Timings are not compared: Temporal spaces retries at least ~1 s.
The expected values are also written out, so that both executors being wrong the same
way still fails.

Each scenario also runs once more per mode with ``--progress-json``, and the event
streams must match (every key but the time, the sequence number, the run id and the
durations), as must the human view (the ``--json`` run's stderr, durations left out).
What differs by design is asserted as such: ``run_started`` says its mode; steps of a
parallel phase interleave as they happen to (in either mode), so their events and lines
are compared per step, in their phase; and on Temporal a step's output arrives in
batches, so its lines are compared in order among themselves, not against the step's
other events. Every result and event of either mode is valid under ``chant schema``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import alive
from temporal_server import TemporalServer
from test_schemas import assert_valid, events_of

PROJECT = Path(__file__).parent / "project"
SECRET = "s3cr3t-parity-value"

# name -> (exit code, [(step id, status, attempts, error type or None, compensation)])
EXPECTED: dict[str, tuple[int, list[tuple[str, str, int, str | None, bool]]]] = {
    "happy": (
        0,
        [
            ("greet.1", "ok", 1, None, False),
            ("look.1", "ok", 1, None, False),
            ("look.2", "ok", 1, None, False),
        ],
    ),
    "retry-then-success": (0, [("flaky.1", "ok", 2, None, False)]),
    "exhausted": (
        1,
        [
            ("deploy.1", "failed", 2, "CommandFailedError", False),
            ("verify.1", "skipped", 0, None, False),
            ("roll-back.1", "ok", 1, None, True),
            ("notify.1", "ok", 1, None, True),
        ],
    ),
    "timeout": (1, [("hang.1", "failed", 1, "ActivityTimeoutError", False)]),
    "non-retryable": (
        1,
        [
            ("check.1", "failed", 1, "QuotaExceededError", False),
            ("check.2", "failed", 1, "CommandFailedError", False),
        ],
    ),
    "parallel": (
        1,
        [
            ("fan-out.1", "failed", 1, "CommandFailedError", False),
            ("fan-out.2", "ok", 1, None, False),
            ("fan-out.3", "ok", 1, None, False),
            ("later.1", "skipped", 0, None, False),
        ],
    ),
    "fail-fast": (
        1,
        [
            ("fan-out.1", "failed", 1, "CommandFailedError", False),
            ("fan-out.2", "cancelled", 1, "Cancelled", False),
            ("clean-up.1", "ok", 1, None, True),
        ],
    ),
    "outcomes": (
        0,
        [("observe.1", "ok", 1, None, False), ("observe.2", "ok", 1, None, False)],
    ),
    "failing-compensation": (
        1,
        [
            ("deploy.1", "failed", 1, "CommandFailedError", False),
            ("undo.1", "failed", 1, "CommandFailedError", True),
            ("undo.2", "ok", 1, None, True),
            ("report.1", "ok", 1, None, True),
        ],
    ),
    "secrets": (
        1,
        [("use.1", "ok", 1, None, False), ("use.2", "failed", 1, "CommandFailedError", False)],
    ),
    "data-flow": (
        0,
        [
            ("build", "ok", 1, None, False),
            ("previous", "ok", 1, None, False),
            ("deploy", "ok", 1, None, False),
            ("deploy.2", "ok", 1, None, False),
            ("report.1", "ok", 1, None, False),
        ],
    ),
    "conditions": (
        0,
        [
            ("check", "ok", 1, None, False),
            ("prod-only", "skipped", 0, None, False),
            ("not-prod", "ok", 1, None, False),
            ("enough", "ok", 1, None, False),
            ("forced", "ok", 1, None, False),
            ("listed", "skipped", 0, None, False),
            ("smoke-1", "skipped", 0, None, False),
            ("smoke-2", "skipped", 0, None, False),
            ("after", "ok", 1, None, False),
        ],
    ),
    "unresolved": (
        1,
        [
            ("previous", "ok", 1, None, False),
            ("report", "ok", 1, None, False),
            ("deploy", "failed", 0, "UnresolvedReferenceError", False),
            ("verify", "skipped", 0, None, False),
            ("rollback", "ok", 1, None, True),
            ("needs-deploy", "failed", 0, "UnresolvedReferenceError", True),
            ("defaulted", "ok", 1, None, True),
            ("when-missing", "failed", 0, "UnresolvedReferenceError", True),
        ],
    ),
    "masked-flow": (0, [("login", "ok", 1, None, False), ("again", "ok", 1, None, False)]),
    "conditions-prod": (
        0,
        [
            ("check", "ok", 1, None, False),
            ("prod-only", "ok", 1, None, False),
            ("not-prod", "skipped", 0, None, False),
            ("enough", "skipped", 0, None, False),
            ("forced", "ok", 1, None, False),
            ("listed", "ok", 1, None, False),
            ("smoke-1", "ok", 1, None, False),
            ("smoke-2", "ok", 1, None, False),
            ("after", "ok", 1, None, False),
        ],
    ),
}

# Scenarios that run an Op of another name (with other parameter values).
OP_OF = {"conditions-prod": "conditions"}

# Parameter values given on the command line, per scenario (the rest run with defaults).
PARAMS: dict[str, list[str]] = {
    "conditions-prod": ["env=prod", "force=true", "min=5"],
    "data-flow": [
        "version=1.5",
        "env=prod",
        "replicas=3",
        "canary=true",
        "regions=eu,us",
        "ratio=0.25",
    ],
}


def _project(tmp_path: Path, server: TemporalServer, mode: str, folder: str = "") -> Path:
    root = tmp_path / (folder or mode)
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("state", "__pycache__"))
    (root / "state").mkdir()
    (root / "chant.toml").write_text(
        '[project]\nops = ["ops"]\n\n' + server.toml(f"parity-{uuid.uuid4().hex[:8]}"),
        encoding="utf-8",
    )
    return root


def _run(
    root: Path, name: str, mode: str, output: str = "--json"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARITY_TOKEN": SECRET}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chant",
            "run",
            OP_OF.get(name, name),
            *PARAMS.get(name, []),
            f"--{mode}",
            output,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout, f"{mode} run printed no {output} output; stderr:\n{proc.stderr}"
    return proc


Steps = dict[str, dict[str, list[dict[str, Any]]]]


def _events(stdout: str, mode: str) -> list[tuple[dict[str, Any], Steps]]:
    """The event stream without what differs run to run, as the events that are not a
    step's, each with the events of each step that came after it: a step's output
    lines and its other events, each in order."""
    blocks: list[tuple[dict[str, Any], Steps]] = []
    for line in stdout.splitlines():
        event = json.loads(line)
        for key in ("ts", "seq", "run_id", "duration_ms", "delay_ms"):
            event.pop(key, None)
        if event["type"] == "run_started":
            assert event.pop("mode") == mode  # the one difference in the events' data
        if "step" not in event:
            blocks.append((event, {}))
            continue
        kind = "output" if event["type"] == "step_output" else "life"
        steps = blocks[-1][1]
        steps.setdefault(event["step"], {"output": [], "life": []})[kind].append(event)
    return blocks


_DURATION = re.compile(r"\b\d+(\.\d+)?(ms|s|m)\b")


def _human(stderr: str) -> list[list[str]]:
    """The human view without durations, as entries: a line with the lines under it
    (a step's error; its output in a sequential phase). In a parallel phase, where steps
    interleave, each output line is an entry and the entries go step by step, each
    step's in order, its output after its other lines."""
    blocks: list[list[list[str]]] = []
    for line in _DURATION.sub("<t>", stderr).splitlines():
        if not line.startswith("  ") or not blocks:  # [phase], [compensation], Op "…"
            blocks.append([[line]])
        elif not line.startswith("   ") or line.startswith("      ["):  # ▸ ✓ ✗ ↻ or [id] output
            blocks[-1].append([line])
        else:
            blocks[-1][-1].append(line)

    def step_of(entry: list[str]) -> tuple[str, bool]:
        first = entry[0].split()
        output = first[0].startswith("[")
        return (first[0].strip("[]") if output else first[1]), output

    shown = []
    for head, *entries in blocks:
        in_parallel = "(parallel" in head[0]
        shown += [head, *(sorted(entries, key=step_of) if in_parallel else entries)]
    return shown


def _normalised(doc: dict[str, Any]) -> list[tuple[str, str, int, str | None, bool]]:
    return [
        (s["id"], s["status"], s["attempts"], (s["error"] or {}).get("type"), s["compensation"])
        for s in doc["steps"]
    ]


def _details(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What else must match: phase, fn, args, outcome, the error's message, the reason
    a step was skipped, and the result (its stdout: what the references resolved to)."""
    return [
        (
            s["id"],
            s["phase"],
            s["fn"],
            s["args"],
            s["outcome"],
            s["error"],
            s["reason"],
            _stdout(s["result"]),
        )
        for s in doc["steps"]
    ]


def _stdout(result: Any) -> Any:
    return result.get("stdout") if isinstance(result, dict) else result


@pytest.mark.parametrize("name", list(EXPECTED))
def test_both_executors_give_the_same_result(name: str, tmp_path: Path, temporal_server) -> None:
    runs = {}
    events, human = {}, {}
    for mode in ("local", "temporal"):
        root = _project(tmp_path, temporal_server, mode)
        proc = _run(root, name, mode)
        code, doc, text = proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr
        runs[mode] = (code, doc, text, root)
        assert doc["mode"] == mode
        assert_valid("result", [doc])  # as `chant schema result` describes, in both modes
        human[mode] = _human(proc.stderr)
        streamed = _run(
            _project(tmp_path, temporal_server, mode, f"{mode}-events"),
            name,
            mode,
            "--progress-json",
        )
        assert streamed.returncode == code, streamed.stderr
        assert_valid("events", events_of(streamed.stdout))
        events[mode] = _events(streamed.stdout, mode)
    (lcode, ldoc, ltext, lroot), (tcode, tdoc, ttext, troot) = runs["local"], runs["temporal"]
    code, steps = EXPECTED[name]
    assert (lcode, _normalised(ldoc)) == (code, steps), ltext
    assert (tcode, _normalised(tdoc)) == (code, steps), ttext
    assert _details(tdoc) == _details(ldoc)
    assert (tdoc["ok"], tdoc["status"], tdoc["failed_step"], tdoc["error"]) == (
        ldoc["ok"],
        ldoc["status"],
        ldoc["failed_step"],
        ldoc["error"],
    )
    assert events["temporal"] == events["local"]
    assert human["temporal"] == human["local"]
    for root in (lroot, troot):
        _check_side_effects(name, root)
    if name == "secrets":
        for text in (ltext, ttext):
            assert SECRET not in text
            assert "token=***" in text and "bad token ***" in text
    if name == "outcomes":
        assert tdoc["steps"][0]["outcome"] == {"name": "Drift", "value": True}
        assert tdoc["steps"][1]["outcome"] == {"name": "Replicas", "value": "3"}
    if name in DATA_FLOW:
        by_id = {s["id"]: s for s in tdoc["steps"]}
        for step_id, (field, value) in DATA_FLOW[name].items():
            got = by_id[step_id][field]
            assert (_stdout(got) if field == "result" else got) == value, step_id
    if name == "masked-flow":
        for text in (ltext, ttext):
            assert SECRET not in text
        assert tdoc["steps"][1]["result"]["stdout"] == "again login ann:***"


# What references and conditions gave, per scenario: step id -> (field, value); for
# "result" the value is the step's stdout.
DATA_FLOW: dict[str, dict[str, tuple[str, Any]]] = {
    "data-flow": {
        "deploy": (
            "result",
            'deploying shop:1.5 to prod x3 canary=true ratio=0.25 regions=["eu","us"]',
        ),
        "deploy.2": ("result", 'layers ["base","shop"] first=base'),
        "report.1": (
            "result",
            "reported: deploying shop:1.5 to prod x3 canary=true ratio=0.25 "
            'regions=["eu","us"] after none',
        ),
    },
    "conditions": {
        "prod-only": ("reason", 'condition false: env == "prod" (env is "staging")'),
        "listed": ("reason", 'condition false: env in ["prod"] (env is "staging")'),
        "smoke-1": (
            "reason",
            'condition false: (env == "prod") | force (env is "staging", force is false)',
        ),
        "after": ("result", "after 3"),
    },
    "conditions-prod": {
        "not-prod": ("reason", 'condition false: env != "prod" (env is "prod")'),
        "enough": (
            "reason",
            'condition false: (outcome Count == "3") & (min <= 3) (outcome Count is "3", min is 5)',
        ),
    },
    "unresolved": {
        "deploy": (
            "error",
            {
                "type": "UnresolvedReferenceError",
                "message": 'out("report", "summary"): the result of step "report" has no '
                '"summary" (no "summary" there)',
            },
        ),
        "rollback": ("result", "back to v1"),
        "defaulted": ("result", "none"),
    },
}


def _check_side_effects(name: str, root: Path) -> None:
    state = root / "state"
    if name == "exhausted":
        assert (state / "compensation").read_text().split() == ["rollback", "notify"]
    if name in ("timeout", "fail-fast"):
        # The step's whole process group was stopped, grandchildren included.
        pid_file = state / ("orphan.pid" if name == "timeout" else "sibling.pid")
        pid = int(pid_file.read_text())
        assert not alive(pid), f"{name}: process {pid} outlived its step"
