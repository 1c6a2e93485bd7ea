"""`chant build`: validate every Op and write its IR to dist/ops/<name>.op.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chant.ir import Op
from chant.project import load_project
from conftest import Chant, MakeProject

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
    assert chant("build", cwd=root).err.splitlines() == [
        f"chant: error: no *.op.py with an Op found under {root.resolve()}",
        f"  looked for **/*.op.py in {root.resolve()} (as [project] ops of chant.toml says)",
        "  found no such file",
        "  hint: write one in ops/<name>.op.py, or list its folder in [project] ops of "
        "chant.toml (chant init creates ops/hello.op.py)",
    ]


def test_build_in_a_folder_without_chant_toml_says_to_cd_or_init(
    tmp_path: Path, chant: Chant
) -> None:
    ran = chant("build", cwd=tmp_path)
    assert (ran.code, ran.err.splitlines()[-1]) == (
        2,
        "  hint: cd into your project, or start one here with `chant init` (it writes "
        "chant.toml and ops/hello.op.py)",
    )


# --- concurrency and unwritable projects ----------------------------------------------

MANY = "from chant import Op, phase, shell\n" + "".join(
    f'op{i} = Op(name="op-{i}", phases=[phase("P", [shell("echo {i}")])])\n' for i in range(8)
)


def test_twelve_builds_at_once_all_succeed_round_after_round(make_project: MakeProject) -> None:
    # Each build replaces the same eight files; a shared temporary name made some fail
    # with FileNotFoundError ("internal error") when another build renamed it first.
    root = make_project({"chant.toml": "", "ops/many.op.py": MANY})
    for _ in range(4):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "chant", "build"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(12)
        ]
        outcomes = [(p.wait(timeout=60), *p.communicate()) for p in procs]
        assert [(code, err) for code, _, err in outcomes] == [(0, "")] * 12
        assert all(out.count("built op-") == 8 for _, out, _ in outcomes)
    built = sorted(p.name for p in (root / "dist" / "ops").iterdir())
    assert built == [f"op-{i}.op.json" for i in range(8)]  # no temporary file left behind
    for i in range(8):
        assert read_ir(root, f"op-{i}").name == f"op-{i}"


def test_the_built_ir_is_readable_by_everyone_as_an_ordinary_file_is(
    project: Path, chant: Chant
) -> None:
    chant("build", cwd=project)
    mode = (project / "dist" / "ops" / "deploy.op.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~current_umask()


def current_umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


@pytest.mark.parametrize(
    ("setup", "message", "hint"),
    [
        (
            lambda root: (root / "dist").write_text(""),
            "cannot create the folder dist/ops: dist is a file, not a folder",
            "remove or rename dist, then run the command again",
        ),
        (
            lambda root: ((root / "dist").mkdir(), (root / "dist" / "ops").write_text("")),
            "cannot create the folder dist/ops: dist/ops is a file, not a folder",
            "remove or rename dist/ops, then run the command again",
        ),
        (
            lambda root: (root / "dist").symlink_to(root / "nowhere"),
            "cannot create the folder dist/ops: dist is a symlink to nowhere, not a folder",
            "remove or rename dist, then run the command again",
        ),
        (
            lambda root: (root / "dist" / "ops" / "smoke.op.json").mkdir(parents=True),
            "cannot write dist/ops/smoke.op.json: it is a folder",
            "remove or rename dist/ops/smoke.op.json, then run the command again",
        ),
    ],
    ids=["dist-is-a-file", "dist-ops-is-a-file", "dist-is-a-dangling-symlink", "ir-is-a-folder"],
)
def test_a_build_that_cannot_write_says_which_path_and_why(
    project: Path, chant_proc: Chant, setup: Callable[[Path], object], message: str, hint: str
) -> None:
    setup(project)
    ran = chant_proc("build", cwd=project / "ops")
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == f"chant: error: {message}\n  hint: {hint}\n"
