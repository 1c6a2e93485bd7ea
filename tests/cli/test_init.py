"""`chant init [DIR]`: the first minute of the tutorial."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from chant.config import load_config
from conftest import Chant, chant_subprocess
from unprivileged import unprivileged

STARTER = ["chant.toml", "ops/hello.op.py", ".gitignore"]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_init_writes_the_three_starter_files(tmp_path: Path, chant: Chant) -> None:
    ran = chant("init", cwd=tmp_path)
    assert ran.code == 0
    assert files_in(tmp_path) == sorted(STARTER)


def test_init_says_what_it_created_and_what_to_do_next(tmp_path: Path, chant: Chant) -> None:
    ran = chant("init", cwd=tmp_path)
    assert ran.out == (
        "created chant.toml\n"
        "created ops/hello.op.py\n"
        "created .gitignore\n"
        "next: chant build && chant run hello\n"
    )
    assert ran.err == ""


def test_init_ignores_build_output_and_local_state(tmp_path: Path, chant: Chant) -> None:
    chant("init", cwd=tmp_path)
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert "dist/" in ignored
    assert ".chant/" in ignored


def test_the_starter_chant_toml_is_valid_and_runs_locally(tmp_path: Path, chant: Chant) -> None:
    chant("init", cwd=tmp_path)
    config = load_config(tmp_path)
    assert config.ops == ("ops",)
    assert config.temporal is None


def test_init_into_a_new_folder_creates_it(tmp_path: Path, chant: Chant) -> None:
    ran = chant("init", "deploys", cwd=tmp_path)
    assert ran.code == 0
    assert files_in(tmp_path / "deploys") == sorted(STARTER)
    assert ran.out.endswith("next: cd deploys && chant build && chant run hello\n")


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, chant: Chant) -> None:
    (tmp_path / "chant.toml").write_text("# mine\n")
    ran = chant("init", cwd=tmp_path)
    assert ran.code == 2
    assert "chant.toml" in ran.err
    assert "chant init writes nothing over existing files" in ran.err
    assert "Traceback" not in ran.err
    assert files_in(tmp_path) == ["chant.toml"]
    assert (tmp_path / "chant.toml").read_text() == "# mine\n"


def test_init_refuses_when_only_the_hello_op_exists(tmp_path: Path, chant: Chant) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "hello.op.py").write_text("# mine\n")
    ran = chant("init", cwd=tmp_path)
    assert ran.code == 2
    assert "ops/hello.op.py" in ran.err
    assert files_in(tmp_path) == ["ops/hello.op.py"]


def test_init_refusal_names_the_existing_file_without_a_bare_dot(
    tmp_path: Path, chant: Chant
) -> None:
    (tmp_path / "chant.toml").write_text("")
    ran = chant("init", cwd=tmp_path)
    assert not ran.err.startswith("chant: error: .:")
    assert ran.err.startswith("chant: error: chant.toml already exists")


def test_the_tutorial_path_works_in_a_fresh_folder(tmp_path: Path, chant_proc: Chant) -> None:
    init = chant_proc("init", cwd=tmp_path)
    assert (init.code, init.err) == (0, "")

    build = chant_proc("build", cwd=tmp_path)
    assert (build.code, build.err) == (0, "")
    assert build.out == "built hello → dist/ops/hello.op.json\n"

    run = chant_proc("run", "hello", cwd=tmp_path)
    assert run.code == 0
    assert run.err == (
        'chant: no [temporal] in chant.toml — running "hello" locally '
        "(in-process: no gates, schedules or resume)\n"
    )
    assert "[outcome] Greeting=hello from chant" in run.out
    assert 'Op "hello" completed' in run.out


def test_init_never_changes_a_gitignore_through_another_hard_link(
    tmp_path: Path, chant: Chant
) -> None:
    shared = tmp_path / "shared-gitignore"
    shared.write_text("node_modules/\n")
    shared.chmod(0o640)
    project = tmp_path / "p"
    project.mkdir()
    os.link(shared, project / ".gitignore")
    ran = chant("init", cwd=project)
    assert ran.code == 0, ran.err
    assert "updated .gitignore" in ran.out
    assert shared.read_text() == "node_modules/\n"  # the other name is untouched
    assert (project / ".gitignore").read_text().startswith("node_modules/\n")
    assert ".chant/" in (project / ".gitignore").read_text().splitlines()
    assert os.stat(project / ".gitignore").st_nlink == 1
    assert os.stat(project / ".gitignore").st_mode & 0o777 == 0o640


def test_init_extends_an_existing_gitignore(tmp_path: Path, chant: Chant) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\ndist/\n")
    ran = chant("init", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert "updated .gitignore" in ran.out
    assert (tmp_path / ".gitignore").read_text() == (
        "node_modules/\ndist/\n# chant build output and local state\n.chant/\n"
    )
    assert (tmp_path / "chant.toml").exists()


def test_init_on_a_file_is_a_usage_error(tmp_path: Path, chant: Chant) -> None:
    (tmp_path / "afile").write_text("")
    ran = chant("init", "afile", cwd=tmp_path)
    assert ran.code == 2
    assert ran.err == (
        "chant: error: afile is a file, not a folder\n"
        "  hint: pass a folder (it is created if missing)\n"
    )


# --- what chant init refuses, writing nothing ---------------------------------------------


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (symlinks not followed) with what it is or holds."""
    found = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            found[key] = f"-> {os.readlink(p)}"
        elif p.is_dir():
            found[key] = "dir"
        elif p.is_file():
            found[key] = p.read_bytes().decode("latin-1")
        else:
            found[key] = "special"
    return found


OUTSIDE_REFUSALS = [
    # (setup inside the project, the error, the hint)
    (
        lambda p, out: (p / "chant.toml").symlink_to(out / "chant.toml"),
        "chant.toml already exists; chant init writes nothing over existing files",
        "run chant init in an empty folder, or chant init NEW_DIR",
    ),
    (
        lambda p, out: (p / "chant.toml").symlink_to(out / "existing"),
        "chant.toml already exists; chant init writes nothing over existing files",
        "run chant init in an empty folder, or chant init NEW_DIR",
    ),
    (
        lambda p, out: ((p / "ops").mkdir(), (p / "ops" / "hello.op.py").symlink_to(out / "h")),
        "ops/hello.op.py already exists; chant init writes nothing over existing files",
        "run chant init in an empty folder, or chant init NEW_DIR",
    ),
    (
        lambda p, out: (p / "ops").symlink_to(out),
        "ops is a symlink to {out}, outside the project {p}; chant init writes only inside "
        "the project",
        "replace the symlink with a folder of its own, or run chant init elsewhere",
    ),
    (
        lambda p, out: (p / ".gitignore").symlink_to(out / "existing"),
        ".gitignore is a symlink to {out}/existing, outside the project {p}; chant init "
        "writes only inside the project",
        "replace the symlink with a file of its own, or run chant init elsewhere",
    ),
    (
        lambda p, out: (p / ".gitignore").symlink_to(out / "missing"),
        ".gitignore is a symlink to {out}/missing, outside the project {p}; chant init "
        "writes only inside the project",
        "replace the symlink with a file of its own, or run chant init elsewhere",
    ),
    (
        lambda p, out: (p / ".gitignore").symlink_to("../outside/existing"),
        ".gitignore is a symlink to {out}/existing, outside the project {p}; chant init "
        "writes only inside the project",
        "replace the symlink with a file of its own, or run chant init elsewhere",
    ),
    (
        lambda p, out: (p / ".gitignore").symlink_to(p / "nothing-here"),
        ".gitignore is a symlink to {p}/nothing-here, which does not exist",
        "remove the symlink or make it point at a file, then run chant init again",
    ),
    (
        lambda p, out: (p / ".gitignore").mkdir(),
        ".gitignore is a folder; chant init adds dist/ and .chant/ to a .gitignore file there",
        "rename or remove .gitignore, then run chant init again",
    ),
    (
        lambda p, out: os.mkfifo(p / ".gitignore"),
        ".gitignore is not a regular file; chant init adds dist/ and .chant/ to a .gitignore "
        "file there",
        "rename or remove .gitignore, then run chant init again",
    ),
    (
        lambda p, out: (p / ".gitignore").write_bytes(b"node_modules/\ncaf\xe9\n"),
        ".gitignore is not UTF-8 text (byte 0xe9 at offset 17); chant init adds dist/ and "
        ".chant/ to it",
        "save .gitignore as UTF-8 (or add dist/ and .chant/ yourself and move it aside), "
        "then run chant init again",
    ),
    (
        lambda p, out: (p / ".gitignore").write_bytes("x\n".encode("utf-16")),
        ".gitignore is not UTF-8 text (byte 0xff at offset 0); chant init adds dist/ and "
        ".chant/ to it",
        "save .gitignore as UTF-8 (or add dist/ and .chant/ yourself and move it aside), "
        "then run chant init again",
    ),
    (
        lambda p, out: (p / "ops").write_text("not a folder"),
        "ops is a file, but chant init puts the hello Op in the folder ops/",
        "rename or remove that file, or run chant init in another folder",
    ),
    (
        lambda p, out: (p / "ops").symlink_to(out / "existing"),
        "ops is a symlink to {out}/existing, outside the project {p}; chant init writes only "
        "inside the project",
        "replace the symlink with a folder of its own, or run chant init elsewhere",
    ),
]


@pytest.mark.parametrize(
    ("setup", "message", "hint"),
    OUTSIDE_REFUSALS,
    ids=[
        "chant-toml-dangling-symlink-out",
        "chant-toml-symlink-to-a-file-out",
        "hello-op-symlink-out",
        "ops-symlink-to-a-folder-out",
        "gitignore-symlink-to-a-file-out",
        "gitignore-dangling-symlink-out",
        "gitignore-relative-symlink-out",
        "gitignore-dangling-symlink-in",
        "gitignore-is-a-folder",
        "gitignore-is-a-fifo",
        "gitignore-latin-1",
        "gitignore-utf-16",
        "ops-is-a-file",
        "ops-symlink-to-a-file-out",
    ],
)
def test_init_refuses_with_the_path_and_the_fix_and_writes_nothing(
    tmp_path: Path, setup: Callable[[Path, Path], object], message: str, hint: str
) -> None:
    outside, p = tmp_path / "outside", tmp_path / "proj"
    outside.mkdir()
    p.mkdir()
    (outside / "existing").write_text("theirs\n")
    setup(p, outside)
    before_in, before_out = tree(p), tree(outside)
    ran = chant_subprocess("init", cwd=p, timeout=20)
    assert (ran.code, ran.out) == (2, "")
    expected = message.format(out=outside.resolve(), p=p.resolve())
    assert ran.err == f"chant: error: {expected}\n  hint: {hint}\n"
    assert (tree(p), tree(outside)) == (before_in, before_out)


def test_init_into_a_named_folder_refuses_a_symlink_out_of_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "ops").symlink_to(outside)
    ran = chant_subprocess("init", "proj", cwd=tmp_path, timeout=20)
    assert ran.code == 2
    assert ran.err.startswith(f"chant: error: proj/ops is a symlink to {outside.resolve()}, ")
    assert list(outside.iterdir()) == []
    assert tree(tmp_path / "proj") == {"ops": f"-> {outside}"}


def test_symlinks_that_stay_inside_the_project_are_followed(tmp_path: Path, chant: Chant) -> None:
    (tmp_path / "src" / "ops").mkdir(parents=True)
    (tmp_path / "ops").symlink_to("src/ops")
    (tmp_path / "shared.gitignore").write_text("node_modules/\n")
    (tmp_path / ".gitignore").symlink_to("shared.gitignore")
    ran = chant("init", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert (tmp_path / "src" / "ops" / "hello.op.py").is_file()
    assert (tmp_path / "ops").is_symlink() and (tmp_path / ".gitignore").is_symlink()
    assert "dist/" in (tmp_path / "shared.gitignore").read_text()


def test_a_gitignore_that_already_ignores_everything_is_left_alone(
    tmp_path: Path, chant: Chant
) -> None:
    (tmp_path / ".gitignore").write_text("dist/\n.chant/\n")
    ran = chant("init", cwd=tmp_path)
    assert ran.code == 0
    assert "gitignore" not in ran.out
    assert (tmp_path / ".gitignore").read_text() == "dist/\n.chant/\n"


def test_a_write_that_fails_half_way_undoes_the_others(tmp_path: Path) -> None:
    # ops/ exists but cannot be written: chant.toml was created first and is removed.
    tmp_path = tmp_path / "proj"
    (tmp_path / "ops").mkdir(parents=True)
    (tmp_path / "ops" / "hello.op.py").mkdir()  # refused before anything: exists
    assert chant_subprocess("init", cwd=tmp_path).code == 2
    (tmp_path / "ops" / "hello.op.py").rmdir()
    (tmp_path / "ops").chmod(0o555)
    try:
        ran = unprivileged(["init"], cwd=tmp_path)
    finally:
        (tmp_path / "ops").chmod(0o755)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f"chant: error: cannot create ops/hello.op.py: permission denied "
        f"({tmp_path / 'ops'} is not writable)\n"
        f"  hint: make it writable (chmod u+w {tmp_path / 'ops'}), or work in a writable copy\n"
    )
    assert tree(tmp_path) == {"ops": "dir"}


def test_a_read_only_gitignore_undoes_the_files_created_before_it(tmp_path: Path) -> None:
    tmp_path = tmp_path / "proj"
    tmp_path.mkdir()
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    (tmp_path / ".gitignore").chmod(0o444)
    ran = unprivileged(["init"], cwd=tmp_path)
    assert (ran.code, ran.out) == (2, "")
    gitignore = tmp_path / ".gitignore"
    assert ran.err == (
        f"chant: error: cannot add to .gitignore: permission denied ({gitignore} is not "
        f"writable)\n  hint: make it writable (chmod u+w {gitignore}), or work in a writable "
        "copy\n"
    )
    assert tree(tmp_path) == {".gitignore": "node_modules/\n"}
