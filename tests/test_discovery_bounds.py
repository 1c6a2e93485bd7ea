"""Discovery is bounded: chant imports only the project's op files, as docs/cli.md says.

With a chant.toml: its ``[project] ops`` folders. Without one: ``./*.op.py`` and
``./ops/**/*.op.py``. Never a folder that is another project (its own chant.toml),
never a file whose real path is outside the project. Each op file here that must not be
imported would leave a marker file, or hang, if it were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chant.config import load_config
from chant.discover import search
from conftest import Chant, MakeProject

HELLO = (
    "from chant import Op, phase, shell\n\n"
    'hello = Op(name="hello", phases=[phase("Greet", [shell("echo hi")])])\n'
)


def marker_op(marker: Path, name: str) -> str:
    """An op file that, if imported, writes ``marker`` and defines Op ``name``."""
    return (
        f"open({str(marker)!r}, 'w').close()\n"
        "from chant import Op, phase, shell\n"
        f'{name.replace("-", "_")} = Op(name="{name}", phases=[phase("P", [shell("true")])])\n'
    )


HANG = "import time\n\ntime.sleep(3600)\n"


@pytest.fixture
def tree(make_project: MakeProject, tmp_path: Path) -> Path:
    """A folder without chant.toml: a good op file in ops/, and next to it a nested
    project, a deep stray op file, a symlink to an op file outside, and a hanging op
    file outside the rule."""
    marks = tmp_path / "marks"
    marks.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.op.py").write_text(marker_op(marks / "outside", "evil"))
    root = make_project(
        {
            "ops/hello.op.py": HELLO,
            "sub/chant.toml": "",
            "sub/ops/nested.op.py": marker_op(marks / "nested", "nested"),
            "ops/team/chant.toml": "",
            "ops/team/other.op.py": marker_op(marks / "team", "other"),
            "deep/x/y/stray.op.py": marker_op(marks / "stray", "stray"),
            "tools/hang.op.py": HANG,
        }
    )
    (root / "ops" / "link.op.py").symlink_to(outside / "evil.op.py")
    return root


def imported(tmp_path: Path) -> list[str]:
    return sorted(os.listdir(tmp_path / "marks"))


def test_without_chant_toml_only_root_files_and_ops_are_imported(
    tree: Path, tmp_path: Path, chant_proc: Chant
) -> None:
    # No import bound: a hanging file, were it imported, would hang the run (timeout 60).
    ran = chant_proc("run", "hello", cwd=tree, env={"CHANT_IMPORT_TIMEOUT": "0"})
    assert ran.code == 0, ran.err
    assert 'Op "hello" completed' in ran.out
    assert imported(tmp_path) == []
    listed = chant_proc("list", "--json", cwd=tree, env={"CHANT_IMPORT_TIMEOUT": "0"})
    assert [row["name"] for row in json.loads(listed.out)] == ["hello"]


def test_without_chant_toml_the_search_names_what_it_considered_and_skipped(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree)
    found = search(load_config(tree))
    assert [str(p.relative_to(tree.resolve())) for p in found.files] == ["ops/hello.op.py"]
    assert found.patterns == ("*.op.py", "ops/**/*.op.py")
    assert found.skipped == (
        ("ops/link.op.py", f"a link to {tmp_path / 'outside' / 'evil.op.py'}, outside the project"),
        ("ops/team/", "another project (it has a chant.toml)"),
    )
    assert imported(tmp_path) == []


def test_a_top_level_op_file_is_found_without_chant_toml(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"hello.op.py": HELLO, "deep/stray.op.py": "raise SystemExit(9)\n"})
    ran = chant("run", "hello", cwd=root)
    assert (ran.code, ran.err.count("warning")) == (0, 0), ran.err


def test_with_chant_toml_the_root_is_searched_but_not_other_projects_or_links_out(
    tree: Path, tmp_path: Path, chant_proc: Chant
) -> None:
    (tree / "tools" / "hang.op.py").unlink()
    (tree / "chant.toml").write_text("[project]\n")
    ran = chant_proc("list", "--json", cwd=tree, env={"CHANT_IMPORT_TIMEOUT": "0"})
    assert ran.code == 0, ran.err
    # ops = ["."] (the default) takes the deep stray file: it is in the project's folders.
    assert [row["name"] for row in json.loads(ran.out)] == ["stray", "hello"]
    assert imported(tmp_path) == ["stray"]


def test_with_chant_toml_only_the_listed_folders_are_searched(
    tree: Path, tmp_path: Path, chant_proc: Chant
) -> None:
    (tree / "chant.toml").write_text('[project]\nops = ["ops"]\n')
    ran = chant_proc("run", "hello", "--local", cwd=tree, env={"CHANT_IMPORT_TIMEOUT": "0"})
    assert ran.code == 0, ran.err
    assert imported(tmp_path) == []


def test_a_project_inside_the_project_is_never_entered(
    tree: Path, tmp_path: Path, chant_proc: Chant
) -> None:
    """Running in the nested project imports only its own Ops, and its parent's not."""
    ran = chant_proc("run", "nested", cwd=tree / "sub")
    assert ran.code == 0, ran.err
    assert imported(tmp_path) == ["nested"]


@pytest.mark.parametrize("kind", ["folder", "broken-link"])
def test_a_sub_folder_whose_chant_toml_is_no_file_is_still_another_project(
    kind: str, make_project: MakeProject, tmp_path: Path, chant: Chant
) -> None:
    # Any entry named chant.toml marks a project root (chant refuses to load one that is
    # no file): its folder is never searched as part of the project above.
    (tmp_path / "marks").mkdir()
    root = make_project(
        {"ops/hello.op.py": HELLO, "ops/other/x.op.py": marker_op(tmp_path / "marks/x", "x")}
    )
    marker = root / "ops" / "other" / "chant.toml"
    if kind == "folder":
        marker.mkdir()
    else:
        marker.symlink_to(root / "missing.toml")
    assert chant("run", "hello", cwd=root).code == 0
    assert imported(tmp_path) == []


@pytest.mark.parametrize("folder", ["venv", ".venv", "node_modules", "__pycache__", ".git"])
def test_tool_folders_under_ops_are_skipped(
    folder: str, make_project: MakeProject, tmp_path: Path, chant: Chant
) -> None:
    (tmp_path / "marks").mkdir()
    root = make_project(
        {"ops/hello.op.py": HELLO, f"ops/{folder}/x.op.py": marker_op(tmp_path / "marks/x", "x")}
    )
    assert chant("run", "hello", cwd=root).code == 0
    assert imported(tmp_path) == []


def test_a_link_that_stays_inside_the_project_is_followed(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"lib/hello.op.py": HELLO})
    (root / "ops").mkdir()
    (root / "ops" / "hello.op.py").symlink_to(root / "lib" / "hello.op.py")
    ran = chant("run", "hello", cwd=root)
    assert ran.code == 0, ran.err


def test_an_ops_entry_outside_the_project_is_an_error(
    make_project: MakeProject, tmp_path: Path, chant: Chant
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "marks").mkdir()
    (tmp_path / "shared" / "s.op.py").write_text(marker_op(tmp_path / "marks/s", "s"))
    root = make_project({"chant.toml": '[project]\nops = ["ops", "../shared"]\n'})
    (root / "ops").mkdir()
    ran = chant("build", cwd=root)
    assert ran.code == 2
    assert ran.err == (
        "chant: error: 1 problem in the project:\n"
        f'chant.toml:2: "../shared" listed in [project] ops is outside the project '
        f"({tmp_path / 'shared'})\n"
        "  hint: chant only imports files inside the project root; move it in, or make it a "
        "project of its own\n"
    )
    assert imported(tmp_path) == []


def test_an_ops_entry_that_is_another_project_is_an_error(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"chant.toml": '[project]\nops = ["ops", "team"]\n', "ops/hello.op.py": HELLO}
    )
    (root / "team").mkdir()
    (root / "team" / "chant.toml").write_text("")
    ran = chant("build", cwd=root)
    assert (ran.code, ran.err) == (
        2,
        "chant: error: 1 problem in the project:\n"
        'chant.toml:2: folder "team" listed in [project] ops is another project (it has a '
        "chant.toml)\n"
        "  hint: run chant in team/ for its Ops, or remove it from the list\n",
    )


def test_no_op_found_without_chant_toml_says_where_chant_looked_and_how_to_start(
    tree: Path, chant: Chant
) -> None:
    (tree / "ops" / "hello.op.py").unlink()
    (tree / "tools" / "hang.op.py").unlink()
    ran = chant("run", "hello", cwd=tree)
    root = tree.resolve()
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f'chant: error: no Op named "hello": no Ops found under {root}\n'
        f"  looked for *.op.py and ops/**/*.op.py in {root} (no chant.toml there or above)\n"
        "  found no such file\n"
        f"  skipped ops/link.op.py: a link to {root.parent / 'outside' / 'evil.op.py'}, "
        "outside the project\n"
        "  skipped ops/team/: another project (it has a chant.toml)\n"
        "  hint: cd into your project, or start one here with `chant init` (it writes "
        "chant.toml and ops/hello.op.py)\n"
    )


def test_an_unknown_op_says_which_files_were_considered(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {
            "chant.toml": '[project]\nops = ["ops", "more"]\n',
            "ops/hello.op.py": HELLO,
            "more/x.op.py": "",
        }
    )
    ran = chant("run", "hullo", cwd=root)
    assert (ran.code, ran.err) == (
        2,
        'chant: error: no Op named "hullo"; available: hello\n'
        f"  looked for ops/**/*.op.py and more/**/*.op.py in {root.resolve()} (as [project] "
        "ops of chant.toml says)\n"
        "  considered more/x.op.py, ops/hello.op.py\n"
        '  hint: did you mean "hello"?\n',
    )


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "ops/*.op.py",
            '"ops/*.op.py" listed in [project] ops is a pattern, and chant does not expand '
            "patterns\n  hint: list the folder instead (every *.op.py below it is found), "
            'e.g. "ops"',
        ),
        (
            "*.op.py",
            '"*.op.py" listed in [project] ops is a pattern, and chant does not expand '
            "patterns\n  hint: list the folder instead (every *.op.py below it is found), "
            'e.g. "."',
        ),
        (
            "ops/helper.py",
            '"ops/helper.py" listed in [project] ops is a file but not an *.op.py\n'
            "  hint: list a folder (searched for *.op.py below it) or one *.op.py file; chant "
            "imports nothing else from [project] ops",
        ),
        (
            "ops/gone.op.py",
            'file "ops/gone.op.py" listed in [project] ops does not exist\n'
            "  hint: create ops/gone.op.py or remove it from the list",
        ),
        (
            "more/",
            'folder "more/" listed in [project] ops does not exist\n'
            "  hint: create more/ or remove it from the list",
        ),
    ],
    ids=["glob", "root-glob", "not-an-op-file", "missing-op-file", "missing-folder"],
)
def test_an_ops_entry_that_finds_nothing_is_an_error_at_its_line(
    make_project: MakeProject, chant: Chant, entry: str, problem: str
) -> None:
    # Each of these was silently ignored, or hinted "create ops/*.op.py/".
    root = make_project(
        {
            "chant.toml": f'# my project\n[project]\nname = "p"\nops = [\n  "{entry}",\n]\n',
            "ops/hello.op.py": HELLO,
            "ops/helper.py": "",
        }
    )
    for command in ("build", "list"):
        ran = chant(command, cwd=root)
        assert (ran.code, ran.out, ran.err) == (
            2,
            "",
            f"chant: error: 1 problem in the project:\nchant.toml:4: {problem}\n",
        )


def test_an_ops_entry_that_is_a_fifo_is_an_error_and_a_fifo_op_file_is_not_opened(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = make_project({"chant.toml": '[project]\nops = ["ops", "pipe.op.py"]\n'})
    (root / "ops").mkdir()
    (root / "ops" / "hello.op.py").write_text(HELLO)
    os.mkfifo(root / "pipe.op.py")
    os.mkfifo(root / "ops" / "other.op.py")  # opening it would block until the bound
    ran = chant_proc("build", cwd=root, env={"CHANT_IMPORT_TIMEOUT": "0"})
    assert (ran.code, ran.err) == (
        2,
        "chant: error: 1 problem in the project:\n"
        'chant.toml:2: "pipe.op.py" listed in [project] ops is neither a folder nor a file\n'
        "  hint: list a folder or one *.op.py file\n",
    )


def test_a_linked_op_file_is_named_by_the_link_not_its_target(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"ops/hello.op.py": HELLO, "shared/broken.op.py": "def f(:\n", "chant.toml": ""}
    )
    (root / "chant.toml").write_text('[project]\nops = ["ops"]\n')
    (root / "ops" / "db.op.py").symlink_to(root / "shared" / "broken.op.py")
    ran = chant("build", cwd=root)
    assert (ran.code, ran.err) == (
        2,
        "chant: error: 1 problem in the project:\n"
        "ops/db.op.py:1: SyntaxError: invalid syntax\n"
        "  hint: fix the syntax; chant imports every *.op.py\n",
    )


def test_list_of_a_folder_without_ops_says_where_chant_looked(tmp_path: Path, chant: Chant) -> None:
    (tmp_path / "notes.py").write_text("")
    ran = chant("list", cwd=tmp_path)
    assert (ran.code, ran.err) == (0, "")
    assert ran.out == (
        f"no Ops found under {tmp_path.resolve()}\n"
        f"  looked for *.op.py and ops/**/*.op.py in {tmp_path.resolve()} (no chant.toml "
        "there or above)\n"
        "  found no such file\n"
        "  hint: cd into your project, or start one here with `chant init` (it writes "
        "chant.toml and ops/hello.op.py)\n"
    )
