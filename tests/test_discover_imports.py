"""Loading a project leaves no process-wide trace: the project root is on ``sys.path``
only while chant imports its files, and the activities its files declare belong to the
registry of that load, not to a list that grows with every load."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chant.activities.sources import collecting
from chant.project import load_project

MakeProject = Callable[..., Path]

HELPER_OP = """
from chant import Op, activity, phase
from helpers.names import NAME

op = Op(name=NAME, phases=[phase("P", [activity("{fn}")])])
"""

HELPER = """
from chant import activity

NAME = "{name}"


@activity
def {fn}() -> str:
    return "{name}"
"""


def _project(make_project: MakeProject, name: str) -> Path:
    fn = name.replace("-", "_")
    return make_project(
        {
            "chant.toml": "",
            "ops/o.op.py": HELPER_OP.format(fn=fn),
            "helpers/__init__.py": "",
            "helpers/names.py": HELPER.format(name=name, fn=fn),
        },
        folder=name,
    )


def test_an_op_file_imports_a_helper_module_of_the_project(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(make_project, "alpha")
    monkeypatch.chdir(root)
    project = load_project(root)
    assert list(project.ops) == ["alpha"]
    assert project.registry.get("alpha") is not None


def test_the_project_root_is_on_sys_path_only_while_its_files_import(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(make_project, "alpha")
    monkeypatch.chdir(root)
    before = list(sys.path)
    load_project(root)
    assert str(root) not in sys.path
    assert sys.path == before


def test_two_projects_loaded_in_one_process_keep_their_own_helpers_and_activities(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both have a module ``helpers.names``: the second load imports its own, not the
    first project's from ``sys.modules``, and each registry holds only its activity."""
    alpha, beta = _project(make_project, "alpha"), _project(make_project, "beta")
    monkeypatch.chdir(alpha)
    first = load_project(alpha)
    monkeypatch.chdir(beta)
    second = load_project(beta)
    assert list(first.ops) == ["alpha"] and list(second.ops) == ["beta"]
    assert first.registry.get("alpha") is not None and first.registry.get("beta") is None
    assert second.registry.get("beta") is not None and second.registry.get("alpha") is None


def test_loading_a_project_again_declares_its_activity_modules_again(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(
        {
            "chant.toml": '[project]\nops = ["ops"]\nactivities = ["acts"]\n',
            "acts.py": "from chant import activity\n\n@activity\ndef bump() -> int:\n"
            "    return 1\n",
            "ops/o.op.py": 'from chant import Op, activity, phase\n\nop = Op(name="o", '
            'phases=[phase("P", [activity("bump")])])\n',
        }
    )
    monkeypatch.chdir(root)
    for _ in range(2):
        project = load_project(root)
        assert project.problems == ()
        bump = project.registry.get("bump")
        assert bump is not None and bump.source == f"{root / 'acts.py'}:3"


def test_an_activity_declared_outside_a_load_joins_no_registry() -> None:
    from chant import activity
    from chant.activities.registry import default_registry

    with collecting() as declared:

        @activity("inside-a-load")
        def inside() -> None: ...

    @activity("outside-any-load")
    def outside() -> None: ...

    assert [d.name for d in declared] == ["inside-a-load"]
    assert default_registry().get("outside-any-load") is None
    assert default_registry(declared).get("inside-a-load") is not None
