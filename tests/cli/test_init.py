"""`chant init [DIR]`: the first minute of the tutorial."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chant.config import load_config
from conftest import Ran

Chant = Callable[..., Ran]
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
