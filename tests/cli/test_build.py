"""`chant build`: validate every Op and write its IR to dist/ops/<name>.op.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chant.ir import Op
from chant.project import load_project
from conftest import Ran

MakeProject = Callable[..., Path]
Chant = Callable[..., Ran]

OPS = """
from chant import Op, Outcome, Profile, Retry, gate, phase, secret, shell

deploy = Op(
    name="deploy",
    overview="Apply, approve, roll out",
    phases=[
        phase("Infra", [shell("make infra", profile="long_infra")]),
        phase("Approve", [gate("approve-prod", timeout="72h")]),
        phase(
            "App",
            [
                shell("kubectl rollout", profile="quick", outcome=Outcome("Rev", "stdout")),
                shell("push", env={"TOKEN": secret("DEPLOY_TOKEN")}, id="push"),
            ],
            parallel=True,
            max_concurrency=2,
        ),
    ],
    on_failure=[
        phase("Rollback", [
            shell("undo", profile=Profile(timeout="10s", retry=Retry(max_attempts=5))),
        ]),
    ],
    search_attributes={"Team": "infra"},
)
smoke = Op(name="smoke", phases=[phase("Check", [shell("true")])])
"""
TOML = '[project]\nops = ["ops"]\n\n[profiles.quick]\ntimeout = "30s"\n'


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    return make_project({"chant.toml": TOML, "ops/deploy.op.py": OPS})


def read_ir(root: Path, name: str) -> Op:
    return Op.from_dict(json.loads((root / "dist" / "ops" / f"{name}.op.json").read_text()))


def test_build_writes_one_ir_file_per_op(project: Path, chant: Chant) -> None:
    ran = chant("build", cwd=project)
    assert ran.code == 0
    assert sorted(p.name for p in (project / "dist" / "ops").iterdir()) == [
        "deploy.op.json",
        "smoke.op.json",
    ]


def test_build_says_what_it_wrote(project: Path, chant: Chant) -> None:
    ran = chant("build", cwd=project)
    assert ran.out == (
        "built deploy → dist/ops/deploy.op.json\nbuilt smoke → dist/ops/smoke.op.json\n"
    )
    assert ran.err == ""


def test_the_built_ir_reads_back_equal_to_the_resolved_op(
    project: Path, chant: Chant, monkeypatch: pytest.MonkeyPatch
) -> None:
    chant("build", cwd=project)
    monkeypatch.chdir(project)
    resolved = load_project(project).ops
    assert read_ir(project, "deploy") == resolved["deploy"]
    assert read_ir(project, "smoke") == resolved["smoke"]


def test_the_built_ir_has_ids_and_full_profiles(project: Path, chant: Chant) -> None:
    chant("build", cwd=project)
    doc = json.loads((project / "dist" / "ops" / "deploy.op.json").read_text())
    infra, _, app = doc["phases"]
    assert infra["steps"][0]["id"] == "infra.1"
    assert infra["steps"][0]["profile"]["name"] == "long_infra"
    assert infra["steps"][0]["profile"]["timeout"] == "20m"
    assert app["steps"][0]["profile"]["name"] == "quick"
    assert app["steps"][0]["profile"]["timeout"] == "30s"
    assert app["steps"][1]["id"] == "push"


def test_the_built_ir_writes_secrets_by_name_never_by_value(
    project: Path, chant: Chant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-9f8e7d6c5b4a")
    chant("build", cwd=project)
    text = (project / "dist" / "ops" / "deploy.op.json").read_text()
    assert "tok-9f8e7d6c5b4a" not in text
    assert json.loads(text)["phases"][2]["steps"][1]["args"]["env"] == {
        "TOKEN": {"$secret": "DEPLOY_TOKEN"}
    }


def test_building_twice_writes_identical_bytes(project: Path, chant: Chant) -> None:
    chant("build", cwd=project)
    first = (project / "dist" / "ops" / "deploy.op.json").read_bytes()
    chant("build", cwd=project)
    assert (project / "dist" / "ops" / "deploy.op.json").read_bytes() == first


def test_build_from_a_subfolder_writes_into_the_project_root(project: Path, chant: Chant) -> None:
    ran = chant("build", cwd=project / "ops")
    assert ran.code == 0
    assert (project / "dist" / "ops" / "deploy.op.json").is_file()
    assert not (project / "ops" / "dist").exists()


def test_a_failed_build_writes_nothing(make_project: MakeProject, chant: Chant) -> None:
    root = make_project(
        {
            "ops/deploy.op.py": OPS,
            "ops/broken.op.py": "from chant import Op\nbroken = Op(name='broken', phases=[])\n",
        }
    )
    ran = chant("build", cwd=root)
    assert ran.code == 2
    assert not (root / "dist").exists()


def test_build_without_any_op_is_an_error(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"chant.toml": ""})
    ran = chant("build", cwd=root)
    assert ran.code == 2
    assert f"no *.op.py with an Op found under {root.resolve()}" in ran.err
    assert not (root / "dist").exists()


def test_build_without_any_op_reports_an_error_with_the_fix(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": ""})
    first, hint = chant("build", cwd=root).err.splitlines()
    assert first == f"chant: error: no *.op.py with an Op found under {root.resolve()}"
    assert hint.startswith("  hint: ")
