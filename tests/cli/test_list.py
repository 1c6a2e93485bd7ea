"""`chant list`: the project's Ops as a table or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Chant, MakeProject

OPS = """
from chant import Op, phase, shell

deploy = Op(
    name="deploy",
    overview="Apply infra and roll out the app",
    phases=[phase("Infra", [shell("a"), shell("b")]), phase("App", [shell("c")])],
    on_failure=[phase("Rollback", [shell("d")])],
)
"""
NIGHTLY = """
from chant import Op, phase, shell

nightly = Op(
    name="nightly-drift",
    overview="Compare live state with the plan",
    schedule="0 3 * * *",
    phases=[phase("Diff", [shell("diff")])],
)
"""


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    return make_project({"ops/a_deploy.op.py": OPS, "ops/b_nightly.op.py": NIGHTLY})


def test_list_prints_a_table_of_name_phases_steps_and_overview(project: Path, chant: Chant) -> None:
    ran = chant("list", cwd=project)
    assert ran.code == 0
    assert ran.out == (
        "NAME           PHASES  STEPS  OVERVIEW\n"
        "deploy              2      3  Apply infra and roll out the app\n"
        "nightly-drift       1      1  Compare live state with the plan\n"
    )
    assert ran.err == ""


def test_list_json_prints_one_object_per_op(project: Path, chant: Chant) -> None:
    ran = chant("list", "--json", cwd=project)
    assert ran.code == 0
    assert json.loads(ran.out) == [
        {
            "name": "deploy",
            "file": "ops/a_deploy.op.py",
            "overview": "Apply infra and roll out the app",
            "phases": ["Infra", "App"],
            "steps": 3,
            "on_failure": ["Rollback"],
            "schedule": None,
        },
        {
            "name": "nightly-drift",
            "file": "ops/b_nightly.op.py",
            "overview": "Compare live state with the plan",
            "phases": ["Diff"],
            "steps": 1,
            "on_failure": [],
            "schedule": "0 3 * * *",
        },
    ]


def test_list_of_an_empty_project_says_how_to_add_an_op(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": ""})
    ran = chant("list", cwd=root)
    assert (ran.code, ran.out) == (
        0,
        f"no Ops found under {root.resolve()}\n"
        f"  looked for **/*.op.py in {root.resolve()} (as [project] ops of chant.toml says)\n"
        "  found no such file\n"
        "  hint: write one in ops/<name>.op.py, or list its folder in [project] ops of "
        "chant.toml (chant init creates ops/hello.op.py)\n",
    )


def test_list_json_of_an_empty_project_is_an_empty_array(
    make_project: MakeProject, chant: Chant
) -> None:
    ran = chant("list", "--json", cwd=make_project({"chant.toml": ""}))
    assert (ran.code, json.loads(ran.out)) == (0, [])


def test_list_of_a_broken_project_reports_the_problem(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/x.op.py": "from chant import Op\nx = Op(name='x', phases=[])\n"})
    ran = chant("list", cwd=root)
    assert ran.code == 2
    assert ran.out == ""
    assert 'ops/x.op.py:2: op "x": has no phases' in ran.err
