"""The plan digest on Temporal, against a real dev server: the run's first event and
its record carry the digest ``chant plan`` shows for the same Op and values, the
workflow's memo keeps it, and ``chant status`` and ``chant history`` show it."""

from __future__ import annotations

import json
from typing import Any

from conftest import MakeOp, chant_subprocess

OP = """
from chant import Op, Param, out, param, phase, shell

op = Op(
    name="{name}",
    params={{"env": Param(str, default="staging", choices=["staging", "prod"])}},
    phases=[
        phase("Build", [shell("echo image:7", id="build")]),
        phase("Deploy", [
            shell(f"echo {{out('build', 'stdout')}} to {{param('env')}}", id="deploy"),
        ]),
        phase("Smoke", [shell("echo smoke", id="smoke")], when=param("env") == "prod"),
    ],
    on_failure=[phase("Undo", [shell("echo undo", id="undo")])],
)
"""


def _json(ran: Any) -> Any:
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def test_a_temporal_run_carries_the_digest_of_its_plan(op_project: MakeOp) -> None:
    root, name = op_project("plan", OP)
    planned = _json(chant_subprocess("plan", name, "env=prod", "--json", cwd=root))
    assert planned["digest"] != _json(chant_subprocess("plan", name, "--json", cwd=root))["digest"]

    ran = chant_subprocess(
        "run", name, "env=prod", "--temporal", "--progress-json", cwd=root, timeout=120
    )
    assert ran.code == 0, ran.err
    first = json.loads(ran.out.splitlines()[0])
    assert (first["type"], first["mode"], first["plan_digest"]) == (
        "run_started",
        "temporal",
        planned["digest"],
    )
    last = json.loads(ran.out.splitlines()[-1])
    assert last["type"] == "run_finished" and last["ok"] is True

    status = _json(chant_subprocess("status", name, "--json", cwd=root))
    assert status["plan_digest"] == planned["digest"]
    text = chant_subprocess("status", name, cwd=root).out.splitlines()
    assert f"  plan     {planned['digest']}" in text
    (row,) = _json(chant_subprocess("history", name, "--json", cwd=root))
    assert row["plan_digest"] == planned["digest"]

    # A dry run on a Temporal project talks to no server and prints the same plan.
    dry = chant_subprocess("run", name, "env=prod", "--dry-run", "--json", cwd=root)
    assert _json(dry) == planned


def test_the_json_record_of_a_temporal_run_has_the_digest_local_runs_have(
    op_project: MakeOp,
) -> None:
    root, name = op_project("plan-json", OP)
    planned = _json(chant_subprocess("plan", name, "--json", cwd=root))
    remote = _json(chant_subprocess("run", name, "--temporal", "--json", cwd=root, timeout=120))
    local = _json(chant_subprocess("run", name, "--local", "--json", cwd=root, timeout=120))
    assert remote["plan_digest"] == local["plan_digest"] == planned["digest"]
