"""Big outputs stay under Temporal's 2 MiB payload limit: the run still completes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Ran

OPS = """
from chant import Op, activity, phase, shell


@activity
def huge() -> dict:
    return {{"blob": "x" * 3_000_000}}


loud = Op(
    name="loud-{tag}",
    phases=[
        phase(
            "Talk",
            [
                shell("seq 1 20000"),
                shell("head -c 3000000 /dev/zero | tr '\\\\0' x; echo"),
                activity("huge"),
                # 6 and 12 bytes of JSON a character: 400 such lines would pass 2 MiB.
                shell(
                    "python3 -c 'import sys; sys.stdout.write((chr(1) * 1000 + chr(10)) * 600"
                    " + (chr(0x1F600) * 1000 + chr(10)) * 300)'"
                ),
            ],
        )
    ],
)
"""


def test_huge_output_and_results_are_cut_to_a_tail_and_the_run_completes(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], temporal_server
) -> None:
    tag = uuid.uuid4().hex[:6]
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"limits-{tag}"),
            "ops/loud.op.py": OPS.format(tag=tag),
        }
    )
    ran = chant_proc("run", f"loud-{tag}", "--progress-json", cwd=root, timeout=120)
    assert ran.code == 0, ran.err[-2000:]
    events = [json.loads(line) for line in ran.out.splitlines()]
    seq_lines = [e["line"] for e in events if e["type"] == "step_output" and e["step"] == "talk.1"]
    # The newest lines arrive; earlier ones are summarised, never silently lost.
    assert seq_lines[-1] == "20000"
    assert len(seq_lines) < 20000
    assert any(line.endswith("earlier lines not shown]") for line in seq_lines)
    wide = [e["line"] for e in events if e["type"] == "step_output" and e["step"] == "talk.2"]
    assert wide and all(len(line) <= 1000 for line in wide)
    finished = {e["step"]: e for e in events if e["type"] == "step_finished"}
    assert [finished[s]["status"] for s in ("talk.1", "talk.2", "talk.3", "talk.4")] == ["ok"] * 4
    wide = [e["line"] for e in events if e["type"] == "step_output" and e["step"] == "talk.4"]
    assert wide[-1] == "\U0001f600" * 1000
    assert wide[0].endswith("earlier lines not shown]")
    again = chant_proc("run", f"loud-{tag}", "--json", cwd=root, timeout=120)
    assert again.code == 0
    steps = json.loads(again.out)["steps"]
    assert steps[2]["result"]["truncated"].startswith("the result took 3000012 bytes of JSON")
    assert len(steps[2]["result"]["tail"]) == 256 * 1024


# A run of any size that completes exits 0 with its record: the record comes with the
# workflow's result even when the run's events are too many to come with it.

MANY = """
from chant import Op, activity, phase


@activity
async def tick(i: int) -> int:
    return i


many = Op(name="many-{tag}", phases=[phase("Tick", [activity("tick", i=i) for i in range(2000)])])
"""


# 2,000 sequential workflow-activity round trips: about a minute on a quiet machine,
# several on a loaded one; the bound is a sanity bound, not a speed target.
@pytest.mark.stress
@pytest.mark.timeout(400)
def test_a_two_thousand_step_run_completes_with_exit_0_and_its_whole_record(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], temporal_server
) -> None:
    tag = uuid.uuid4().hex[:6]
    root = make_project(
        {"chant.toml": temporal_server.toml(f"many-{tag}"), "ops/many.op.py": MANY.format(tag=tag)}
    )
    ran = chant_proc("run", f"many-{tag}", "--json", cwd=root, timeout=400)
    assert ran.code == 0, ran.err[-2000:]
    finals = [line for line in ran.err.splitlines() if line.startswith(f'Op "many-{tag}" ')]
    assert len(finals) == 1
    assert finals[0].startswith(f'Op "many-{tag}" completed in ')
    assert "without finishing" not in ran.err
    record = json.loads(ran.out)
    assert (record["ok"], record["status"], len(record["steps"])) == (True, "ok", 2000)
    assert [s["result"] for s in record["steps"]] == list(range(2000))
    assert record["steps"][-1]["args"] == {"i": 1999}


WIDE = """
from chant import Op, Profile, Retry, activity, phase


@activity
async def echo(i: int, pad: str) -> dict:
    if i == 399:
        raise RuntimeError("the last one fails")
    return {{"i": i, "pad": pad}}


wide = Op(
    name="wide-{tag}",
    phases=[
        phase(
            "Echo",
            [
                activity("echo", i=i, pad="x" * 3000, profile=Profile(retry=Retry(max_attempts=1)))
                for i in range(400)
            ],
        )
    ],
)
"""


def test_a_record_too_big_for_temporal_leaves_out_results_and_keeps_every_step(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], temporal_server
) -> None:
    # 400 steps with 3 KB of arguments and results each: over 1 MiB even without results.
    tag = uuid.uuid4().hex[:6]
    root = make_project(
        {"chant.toml": temporal_server.toml(f"wide-{tag}"), "ops/wide.op.py": WIDE.format(tag=tag)}
    )
    ran = chant_proc("run", f"wide-{tag}", "--json", cwd=root, timeout=300)
    assert ran.code == 1, ran.err[-2000:]
    last = [line for line in ran.err.splitlines() if line.startswith(f'Op "wide-{tag}" ')][-1]
    assert last.startswith(f'Op "wide-{tag}" failed after ')
    assert last.endswith("step echo.400 failed: RuntimeError: the last one fails")
    record = json.loads(ran.out)
    assert (record["ok"], record["failed_step"], len(record["steps"])) == (False, "echo.400", 400)
    assert [s["status"] for s in record["steps"]] == ["ok"] * 399 + ["failed"]
    left_out = {"$left_out": "the run record is limited to 1 MiB"}
    assert all(s["result"] == left_out for s in record["steps"])
    # The arguments, left out of the workflow's result, are the IR's: chant puts them back.
    assert [s["args"] for s in record["steps"]] == [{"i": i, "pad": "x" * 3000} for i in range(400)]
    status = chant_proc("status", f"wide-{tag}", "--json", cwd=root, timeout=60)
    assert status.code == 0, status.err
    assert json.loads(status.out)["state"] == "failed"
