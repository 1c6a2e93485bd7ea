"""A project chant cannot write: ``chant build`` and ``chant server start`` say which path
and why (exit 2, no traceback), whether the folder is read-only or a file stands where a
folder must be."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Ran, chant_subprocess
from temporal_server import free_port
from unprivileged import unprivileged

HELLO = """
from chant import Op, phase, shell
hello = Op(name="hello", phases=[phase("P", [shell("true")])])
"""


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Iterator[Path]:
    root = make_project(
        {
            "chant.toml": f'[temporal.profiles.dev]\naddress = "127.0.0.1:{free_port()}"\n',
            "ops/hello.op.py": HELLO,
        }
    )
    yield root
    for p in (root, root / "dist", root / "dist" / "ops", root / ".chant"):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)  # let pytest remove it


def denied(what: str, path: str, folder: Path) -> str:
    return (
        f"chant: error: cannot {what} {path}: permission denied ({folder} is not writable)\n"
        f"  hint: make it writable (chmod u+w {folder}), or work in a writable copy\n"
    )


def test_build_in_a_read_only_project_names_the_folder(project: Path) -> None:
    project.chmod(0o555)
    ran = unprivileged(["build"], cwd=project)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == denied("create the folder", "dist/ops", project)


def test_build_with_a_read_only_dist_names_it(project: Path) -> None:
    (project / "dist").mkdir()
    (project / "dist").chmod(0o555)
    ran = unprivileged(["build"], cwd=project)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == denied("create the folder", "dist/ops", project / "dist")


def test_build_with_a_read_only_dist_ops_names_the_file_it_could_not_write(
    project: Path,
) -> None:
    (project / "dist" / "ops").mkdir(parents=True)
    (project / "dist" / "ops").chmod(0o555)
    ran = unprivileged(["build"], cwd=project / "ops")
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == denied("write", "dist/ops/hello.op.json", project / "dist" / "ops")
    assert list((project / "dist" / "ops").iterdir()) == []


def test_server_start_in_a_read_only_project_names_the_folder(project: Path) -> None:
    project.chmod(0o555)
    ran = unprivileged(["server", "start"], cwd=project)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == denied("create the folder", ".chant/server", project)


def test_server_start_with_a_read_only_chant_folder_names_it(project: Path) -> None:
    (project / ".chant").mkdir()
    (project / ".chant").chmod(0o555)
    ran = unprivileged(["server", "start"], cwd=project)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == denied("create the folder", ".chant/server", project / ".chant")


@pytest.mark.parametrize(
    ("blocker", "shown"),
    [(".chant", ".chant"), (".chant/server", ".chant/server")],
)
def test_server_start_with_a_file_where_its_folder_must_be(
    project: Path, blocker: str, shown: str
) -> None:
    (project / blocker).parent.mkdir(exist_ok=True)
    (project / blocker).write_text("")
    ran: Ran = chant_subprocess("server", "start", cwd=project)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f"chant: error: cannot create the folder .chant/server: {shown} is a file, not a folder\n"
        f"  hint: remove or rename {shown}, then run the command again\n"
    )
    # status and stop have nothing to report, and say so without an error.
    assert chant_subprocess("server", "status", cwd=project).code == 3
    assert chant_subprocess("server", "stop", cwd=project).code == 0


def test_an_auto_started_server_in_an_unwritable_project_is_the_same_error(
    project: Path,
) -> None:
    port = free_port()
    (project / "chant.toml").write_text(
        '[temporal]\ndefault_profile = "dev"\n[temporal.profiles.dev]\n'
        f'address = "127.0.0.1:{port}"\nauto_start = true\n'
    )
    (project / ".chant").write_text("")
    ran = chant_subprocess("run", "hello", cwd=project)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.endswith(
        "chant: error: cannot create the folder .chant/server: .chant is a file, not a folder\n"
        "  hint: remove or rename .chant, then run the command again\n"
    )
