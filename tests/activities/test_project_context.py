"""Activities find their project through their context, not the current directory: a
long-lived worker serves its project whatever folder it was started in."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chant.activities.registry import ActivityContext, ProjectContext
from chant.config import load_config

MakeProject = Callable[..., Path]


def _toml(data: object) -> str:
    code = f"import json; print(json.dumps({data!r}))"
    return (
        f'[environments.demo]\nobserve = [{json.dumps(sys.executable)}, "-c", {json.dumps(code)}]\n'
    )


def _call(name: str, ctx: ActivityContext, **args: Any) -> Any:
    from chant.activities.registry import default_registry

    defn = default_registry().get(name)
    assert defn is not None
    return asyncio.run(asyncio.wait_for(defn.invoke(args, ctx), 20))


def _ctx(project: ProjectContext | None) -> ActivityContext:
    return ActivityContext(
        step_id="s.1", attempt=1, output=lambda line, stream: None, project=project
    )


@pytest.fixture
def two(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The project, and another folder with a chant.toml of its own as the current one."""
    root = make_project({"chant.toml": _toml({"svc": {"image": "api:1"}})}, folder="proj")
    other = make_project({"chant.toml": _toml({"a": 1, "b": 2})}, folder="other")
    monkeypatch.chdir(other)
    return root, other


def test_state_snapshot_uses_the_contexts_project_not_the_current_folder(
    two: tuple[Path, Path],
) -> None:
    root, other = two
    result = _call("state_snapshot", _ctx(ProjectContext(load_config(root))), env="demo")
    assert result["resources"] == 1
    assert result["path"].startswith(".chant/state/demo/")
    stored = root / result["path"]
    assert json.loads(stored.read_text()) == {"svc": {"image": "api:1"}}
    assert not (other / ".chant").exists()


def test_without_a_project_in_the_context_the_current_folder_decides(
    two: tuple[Path, Path],
) -> None:
    root, other = two
    result = _call("state_snapshot", _ctx(None), env="demo")
    assert result["resources"] == 2
    assert (other / result["path"]).is_file()
    assert not (root / ".chant").exists()


def test_an_unknown_environment_names_the_projects_chant_toml(two: tuple[Path, Path]) -> None:
    from chant.errors import ActivityError

    root, _ = two
    with pytest.raises(ActivityError) as caught:
        _call("state_snapshot", _ctx(ProjectContext(load_config(root))), env="prod")
    assert caught.value.type == "UnknownEnvironmentError"
    assert str(caught.value).startswith(
        'no environment "prod" in chant.toml (defined: demo); to add it, write [environments.prod]'
    )


def test_build_finds_its_folder_from_the_project_root(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = make_project({"chant.toml": "", "app/Makefile": "all:\n\t@echo built in $(CURDIR)\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = _call("build", _ctx(ProjectContext(load_config(root))), path="app")
    assert result["path"] == "app"
    assert result["stdout"] == f"built in {root / 'app'}"


def test_the_project_loaded_gives_its_registry_the_project(make_project: MakeProject) -> None:
    from chant.project import load_project

    root = make_project({"chant.toml": _toml({}), "ops/.keep": ""})
    registry = load_project(root).registry
    assert registry.project is not None
    assert registry.project.root == root
    assert list(registry.project.config.environments) == ["demo"]
