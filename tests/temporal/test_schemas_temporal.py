"""On Temporal, ``chant run --json`` results and ``--progress-json`` events validate against
``chant schema result`` and ``chant schema events``, as local ones do (tests/test_schemas.py):
a run with parameters, a retried step, a secret masked, a step skipped by its condition,
a gate that times out and the compensation that follows. (``chant status --json`` has a
shape of its own, not the run result's.)
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import MakeOp, chant_subprocess
from test_schemas import assert_valid, events_of

SECRET = "s3cr3t-schema-temporal"

OP = """
from chant import Op, Param, Profile, Retry, gate, param, phase, secret, shell

twice = Profile(timeout="30s", retry=Retry(max_attempts=2, initial_interval="1s"))

op = Op(
    name="{name}",
    params={{
        "version": Param(str, help="image tag"),
        "env": Param(str, default="staging", choices=["staging", "prod"]),
    }},
    phases=[
        phase("Build", [
            shell(
                "n=$(cat {tmp}/tries 2>/dev/null || echo 0); echo $((n+1)) > {tmp}/tries; "
                f"echo build {{param('version')}} token=$TOKEN; [ $n -ge 1 ]",
                id="build",
                env={{"TOKEN": secret("SCHEMA_TOKEN")}},
                profile=twice,
                outcome="Built",
            ),
        ]),
        phase("Smoke", [shell("echo smoke")], when=param("env") == "prod"),
        phase("Approve", [gate("approve", timeout="2s", description="ship it?")]),
    ],
    on_failure=[phase("Roll back", [shell("echo rolled back")])],
)
"""


def test_temporal_run_results_and_events_are_valid(op_project: MakeOp, tmp_path: Path) -> None:
    root, name = op_project("schema", OP)
    env = {"SCHEMA_TOKEN": SECRET}
    ran = chant_subprocess(
        "run", name, "version=1.5", "--temporal", "--json", cwd=root, env=env, timeout=120
    )
    assert ran.code == 1, ran.err
    result = json.loads(ran.out)
    assert_valid("result", [result])
    steps = {s["id"]: s for s in result["steps"]}
    assert (result["mode"], result["failed_step"], result["params"]) == (
        "temporal",
        "approve.1",
        {"version": "1.5", "env": "staging"},
    )
    assert (steps["build"]["attempts"], steps["smoke.1"]["status"]) == (2, "skipped")
    assert steps["approve.1"]["error"]["type"] == "GateTimeoutError"
    assert steps["roll-back.1"]["compensation"] is True

    (tmp_path / "tries").unlink()  # the build step fails its first attempt again
    streamed = chant_subprocess(
        "run", name, "version=1.6", "--temporal", "--progress-json", cwd=root, env=env, timeout=120
    )
    assert streamed.code == 1, streamed.err
    events = events_of(streamed.out)
    assert_valid("events", events)
    assert {e["type"] for e in events} >= {"step_retrying", "compensation_started", "step_output"}
    assert events[0]["mode"] == "temporal"
    for text in (ran.out, streamed.out):
        assert SECRET not in text and "token=***" in text
