"""The build and teardown activities against real tiny projects: make, npm, a nested
chant, python -m build, and explicit commands."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Profile, Retry, build, phase
from chant.activities.project import build as build_activity
from chant.activities.project import teardown as teardown_activity
from chant.activities.registry import ActivityContext
from chant.errors import ActivityError, CommandFailedError, ToolNotFoundError
from conftest import run_op

Lines = list[tuple[str, str]]
ONCE = Profile(timeout="1m", retry=Retry(max_attempts=1))
HAS_NPM = shutil.which("npm") is not None


def call(fn: Callable[..., Any], **kw: Any) -> tuple[dict[str, Any], Lines]:
    lines: Lines = []
    ctx = ActivityContext(
        step_id="s.1", attempt=1, output=lambda line, stream: lines.append((stream, line))
    )
    result = asyncio.run(asyncio.wait_for(fn(ctx, **kw), 60))
    return result, lines


def fails(fn: Callable[..., Any], **kw: Any) -> ActivityError:
    with pytest.raises(ActivityError) as err:
        call(fn, **kw)
    return err.value


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


MAKEFILE = "all:\n\techo building; touch built\nteardown:\n\techo tearing down; touch torn\n"


@pytest.fixture
def make_app(tmp_path: Path) -> Path:
    return write(tmp_path / "app", {"Makefile": MAKEFILE})


# --- make ------------------------------------------------------------------------------


def test_a_makefile_is_built_with_make_in_the_folder(make_app: Path) -> None:
    result, lines = call(build_activity, path=str(make_app))
    assert (make_app / "built").exists()
    assert not (make_app / "torn").exists()
    assert result == {
        "path": str(make_app),
        "command": ["make"],
        "exit_code": 0,
        "stdout": "echo building; touch built\nbuilding",
        "stderr": "",
    }
    assert lines == [
        ("log", f"Makefile in {make_app} → make"),
        ("stdout", "echo building; touch built"),
        ("stdout", "building"),
    ]


def test_a_makefile_is_torn_down_with_make_teardown(make_app: Path) -> None:
    result, lines = call(teardown_activity, path=str(make_app))
    assert (make_app / "torn").exists()
    assert not (make_app / "built").exists()
    assert result["command"] == ["make", "teardown"]
    assert lines[0] == ("log", f"Makefile in {make_app} → make teardown")


def test_path_is_relative_to_the_current_directory_and_defaults_to_it(
    make_app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(make_app.parent)
    result, _ = call(build_activity, path="app")
    assert result["path"] == "app"
    assert (make_app / "built").exists()
    monkeypatch.chdir(make_app)
    result, _ = call(teardown_activity)
    assert result["path"] == "."
    assert (make_app / "torn").exists()


def test_a_lowercase_makefile_counts_too(tmp_path: Path) -> None:
    app = write(tmp_path / "app", {"makefile": "all:\n\t@touch built\n"})
    result, _ = call(build_activity, path=str(app))
    assert result["command"] == ["make"]
    assert (app / "built").exists()


def test_a_failing_make_names_the_command_the_code_and_the_last_stderr_lines(
    tmp_path: Path,
) -> None:
    app = write(tmp_path / "app", {"Makefile": "all:\n\t@echo about to fail >&2; exit 3\n"})
    err = fails(build_activity, path=str(app))
    assert isinstance(err, CommandFailedError)
    assert err.type == "CommandFailedError"
    assert not err.non_retryable
    assert err.command_exit_code == 2
    assert str(err) == (
        f"make (in {app}) exited with 2: about to fail | make: *** [Makefile:2: all] Error 3"
    )


def test_a_missing_make_fails_once_with_tool_not_found(
    make_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result, _ = run_op(Op(name="b", phases=[phase("B", [build(str(make_app))])]))
    step = result.steps[0]
    assert step.status == "failed"
    assert step.attempts == 1  # non-retryable, although fast_idempotent allows 3
    assert step.error == {
        "type": "ToolNotFoundError",
        "message": "make is not on PATH; install make (e.g. apt-get install make, or "
        "xcode-select --install on macOS), or pass command=",
    }
    assert not (make_app / "built").exists()


# --- npm -------------------------------------------------------------------------------


@pytest.fixture
def npm_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("npm_config_update_notifier", "false")
    package = {
        "name": "app",
        "version": "1.0.0",
        "private": True,
        "scripts": {"build": "echo npm-building > built", "teardown": "echo npm-tearing > torn"},
    }
    return write(tmp_path / "app", {"package.json": json.dumps(package)})


@pytest.mark.skipif(not HAS_NPM, reason="npm is not installed")
def test_a_package_json_is_built_with_npm_run_build(npm_app: Path) -> None:
    result, lines = call(build_activity, path=str(npm_app))
    assert result["command"] == ["npm", "run", "build"]
    assert (npm_app / "built").read_text().strip() == "npm-building"
    assert lines[0] == ("log", f"package.json in {npm_app} → npm run build")


@pytest.mark.skipif(not HAS_NPM, reason="npm is not installed")
def test_a_package_json_is_torn_down_with_npm_run_teardown(npm_app: Path) -> None:
    result, _ = call(teardown_activity, path=str(npm_app))
    assert result["command"] == ["npm", "run", "teardown"]
    assert (npm_app / "torn").read_text().strip() == "npm-tearing"


def test_a_missing_npm_is_tool_not_found(
    npm_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    err = fails(build_activity, path=str(npm_app))
    assert isinstance(err, ToolNotFoundError)
    assert err.non_retryable
    assert str(err) == (
        "npm is not on PATH; install Node.js, which comes with npm (https://nodejs.org), "
        "or pass command="
    )


# --- chant -----------------------------------------------------------------------------

OPS = {
    "chant.toml": '[project]\nops = ["ops"]\n',
    "ops/inner.op.py": (
        "from chant import Op, phase, shell\n"
        'inner = Op(name="inner", phases=[phase("A", [shell("echo hi")])])\n'
        "teardown = Op(\n"
        '    name="teardown", phases=[phase("Down", [shell("echo bye > torn-by-chant")])]\n'
        ")\n"
    ),
}


def test_a_chant_project_is_built_with_a_nested_chant_build(tmp_path: Path) -> None:
    app = write(tmp_path / "app", OPS)
    result, lines = call(build_activity, path=str(app))
    assert result["command"] == [sys.executable, "-m", "chant", "build"]
    assert sorted(p.name for p in (app / "dist" / "ops").iterdir()) == [
        "inner.op.json",
        "teardown.op.json",
    ]
    assert json.loads((app / "dist/ops/inner.op.json").read_text())["name"] == "inner"
    assert "built inner → dist/ops/inner.op.json" in result["stdout"]
    assert lines[0] == ("log", f"chant.toml in {app} → chant build")


def test_a_chant_project_is_torn_down_by_its_teardown_op(tmp_path: Path) -> None:
    app = write(tmp_path / "app", OPS)
    result, _ = call(teardown_activity, path=str(app))
    assert result["command"] == [sys.executable, "-m", "chant", "run", "teardown"]
    assert (app / "torn-by-chant").read_text() == "bye\n"


def test_a_teardown_op_tearing_down_its_own_project_stops_instead_of_looping(
    tmp_path: Path,
) -> None:
    app = write(
        tmp_path / "app",
        {
            "chant.toml": "",
            "down.op.py": (
                "from chant import Op, Profile, Retry, phase, teardown\n"
                "once = Profile(timeout='1m', retry=Retry(max_attempts=1))\n"
                "down = Op(name='teardown', phases=[phase('D', [teardown(profile=once)])])\n"
            ),
        },
    )
    err = fails(teardown_activity, path=str(app))
    assert isinstance(err, CommandFailedError)
    assert err.command_exit_code == 1
    # The nested run's summary line says which step failed and why.
    assert re.fullmatch(
        re.escape(f"chant run teardown (in {app}) exited with 1: ")
        + r'Op "teardown" failed after \d+ms: step d\.1 failed: '
        + re.escape(
            f"TeardownLoopError: teardown of {app} is already running chant run teardown "
            "there: the teardown Op calls teardown() on its own project, which would start "
            "itself again forever; pass command= to say how to tear it down"
        ),
        str(err),
    ), str(err)


def test_a_broken_chant_project_fails_with_chants_own_error(tmp_path: Path) -> None:
    app = write(tmp_path / "app", {"chant.toml": "", "x.op.py": "this is not python\n"})
    err = fails(build_activity, path=str(app))
    assert isinstance(err, CommandFailedError)
    assert err.command_exit_code == 2
    assert str(err).startswith(f"chant build (in {app}) exited with 2: chant: error: ")
    assert "x.op.py:1" in str(err)


def test_chant_toml_comes_before_a_makefile_and_a_makefile_before_the_rest(
    tmp_path: Path,
) -> None:
    both = write(tmp_path / "both", {**OPS, "Makefile": "all:\n\ttouch made\n"})
    result, _ = call(build_activity, path=str(both))
    assert result["command"][-1] == "build"
    assert not (both / "made").exists()
    rest = write(
        tmp_path / "rest",
        {"Makefile": "all:\n\ttouch made\n", "package.json": "{}", "pyproject.toml": ""},
    )
    result, _ = call(build_activity, path=str(rest))
    assert result["command"] == ["make"]
    assert (rest / "made").exists()


@pytest.mark.skipif(not HAS_NPM, reason="npm is not installed")
def test_package_json_comes_before_pyproject(npm_app: Path) -> None:
    (npm_app / "pyproject.toml").write_text("")
    result, _ = call(build_activity, path=str(npm_app))
    assert result["command"] == ["npm", "run", "build"]


# --- pyproject -------------------------------------------------------------------------


def without_the_build_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """This interpreter's path without the folder that holds the ``build`` package (the
    dev extra installs it), as in an environment that lacks it."""
    spec = importlib.util.find_spec("build")
    if spec is not None and spec.submodule_search_locations:
        holder = {str(Path(p).parent) for p in spec.submodule_search_locations}
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in holder])
    assert importlib.util.find_spec("build") is None or "build" in sys.modules


# Building for real would need the network for python -m build's isolated environment,
# so the missing-package path is what is tested.
def test_a_pyproject_without_the_build_package_says_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_the_build_package(monkeypatch)
    # A build/ output folder must not pass for the package.
    app = write(tmp_path / "app", {"pyproject.toml": "[project]\nname='x'\n", "build/x": ""})
    err = fails(build_activity, path=str(app))
    assert isinstance(err, ToolNotFoundError)
    assert err.non_retryable
    assert str(err) == (
        f"{app} has a pyproject.toml, which chant builds with python -m build, but the "
        f'"build" package is not installed for {sys.executable}; pip install build '
        "(in that environment), or pass command="
    )


def test_teardown_has_no_pyproject_rule(tmp_path: Path) -> None:
    app = write(tmp_path / "app", {"pyproject.toml": ""})
    err = fails(teardown_activity, path=str(app))
    assert err.type == "NothingToTearDownError"


# --- command= --------------------------------------------------------------------------


def test_a_command_list_runs_without_a_shell_in_the_folder(make_app: Path) -> None:
    argv = [sys.executable, "-c", "import os, sys; print(os.getcwd()); print(sys.argv[1])"]
    result, _ = call(build_activity, path=str(make_app), command=[*argv, "$HOME; echo no"])
    assert result["command"] == [*argv, "$HOME; echo no"]
    assert result["stdout"] == f"{make_app}\n$HOME; echo no"
    assert not (make_app / "built").exists()  # command= wins over the Makefile


def test_a_command_string_runs_with_sh(make_app: Path) -> None:
    result, _ = call(teardown_activity, path=str(make_app), command="echo $((1 + 2)); pwd")
    assert result["command"] == ["/bin/sh", "-c", "echo $((1 + 2)); pwd"]
    assert result["stdout"] == f"3\n{make_app}"
    assert not (make_app / "torn").exists()


def test_a_command_also_works_in_a_folder_with_nothing_to_detect(tmp_path: Path) -> None:
    result, _ = call(build_activity, path=str(tmp_path), command=["touch", "x"])
    assert (tmp_path / "x").exists()
    assert result["exit_code"] == 0


def test_a_failing_command_string_names_it(tmp_path: Path) -> None:
    err = fails(build_activity, path=str(tmp_path), command="echo oops >&2; exit 4")
    assert isinstance(err, CommandFailedError)
    assert str(err) == f"echo oops >&2; exit 4 (in {tmp_path}) exited with 4: oops"


def test_a_failing_command_without_stderr_shows_its_last_stdout_lines(tmp_path: Path) -> None:
    err = fails(teardown_activity, path=str(tmp_path), command=["sh", "-c", "echo why; exit 5"])
    assert str(err) == f"sh -c 'echo why; exit 5' (in {tmp_path}) exited with 5: why"


def test_a_command_whose_program_is_missing_is_tool_not_found(tmp_path: Path) -> None:
    err = fails(build_activity, path=str(tmp_path), command=["no-such-tool-xyz", "go"])
    assert isinstance(err, ToolNotFoundError)
    assert str(err) == "no-such-tool-xyz is not on PATH; install it, or fix command="
    err = fails(build_activity, path=str(tmp_path), command=["./missing.sh"])
    assert isinstance(err, ToolNotFoundError)
    assert (
        str(err)
        == f"cannot run ./missing.sh in {tmp_path}: No such file or directory; fix command="
    )


def test_an_empty_command_is_refused(tmp_path: Path) -> None:
    assert fails(build_activity, path=str(tmp_path), command=[]).type == "InvalidArgumentError"
    assert fails(build_activity, path=str(tmp_path), command=" ").non_retryable


# --- nothing there ---------------------------------------------------------------------


def test_nothing_to_build_names_the_folder_and_what_was_looked_for(tmp_path: Path) -> None:
    err = fails(build_activity, path=str(tmp_path))
    assert err.type == "NothingToBuildError"
    assert err.non_retryable
    assert str(err) == (
        f"nothing to build in {tmp_path}: it has no chant.toml, Makefile, package.json or "
        "pyproject.toml; pass command= to say how to build it"
    )


def test_nothing_to_tear_down_names_the_folder_and_what_was_looked_for(tmp_path: Path) -> None:
    err = fails(teardown_activity, path=str(tmp_path))
    assert err.type == "NothingToTearDownError"
    assert err.non_retryable
    assert str(err) == (
        f"nothing to tear down in {tmp_path}: it has no chant.toml, Makefile or package.json; "
        "pass command= to say how to tear it down"
    )


def test_a_missing_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    err = fails(build_activity, path="nowhere")
    assert err.type == "FolderNotFoundError"
    assert err.non_retryable
    assert str(err) == f"cannot build nowhere: the folder {tmp_path / 'nowhere'} does not exist"
    (tmp_path / "file").write_text("")
    err = fails(teardown_activity, path="file", command="true")
    assert str(err) == f"cannot tear down file: {tmp_path / 'file'} is a file, not a folder"


def test_a_failed_detection_is_not_retried(tmp_path: Path) -> None:
    result, _ = run_op(Op(name="b", phases=[phase("B", [build(str(tmp_path / "gone"))])]))
    assert result.steps[0].attempts == 1
    assert result.steps[0].error is not None
    assert result.steps[0].error["type"] == "FolderNotFoundError"


# --- end to end ------------------------------------------------------------------------


def test_chant_run_builds_and_tears_down_a_subfolder(
    make_project: Callable[..., Path], chant: Callable[..., Any]
) -> None:
    root = make_project(
        {
            "chant.toml": "",
            "app/Makefile": "",
            "ops/ship.op.py": """
                from chant import Op, Outcome, phase, build, teardown

                ship = Op(
                    name="ship",
                    phases=[
                        phase("Build", [build("app", outcome=Outcome("Made", "command"))]),
                        phase("Down", [teardown("app")]),
                    ],
                )
            """,
        }
    )
    (root / "app" / "Makefile").write_text(MAKEFILE)
    ran = chant("run", "ship", "--local", cwd=root / "ops")
    assert ran.code == 0, ran.out + ran.err
    assert (root / "app" / "built").exists()
    assert (root / "app" / "torn").exists()
    assert f"Makefile in {root / 'app'} → make teardown" in ran.out
    assert "[outcome] Made=" in ran.out
