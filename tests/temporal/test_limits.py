"""Big outputs stay under Temporal's 2 MiB payload limit: the run still completes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

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
    assert [finished[s]["status"] for s in ("talk.1", "talk.2", "talk.3")] == ["ok"] * 3
    again = chant_proc("run", f"loud-{tag}", "--json", cwd=root, timeout=120)
    assert again.code == 0
    steps = json.loads(again.out)["steps"]
    assert steps[2]["result"]["truncated"].startswith("the result took 3000012 bytes of JSON")
    assert len(steps[2]["result"]["tail"]) == 256 * 1024
