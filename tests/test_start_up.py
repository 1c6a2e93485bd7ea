"""What the quickest commands load: ``import chant`` nothing but the version, ``chant
--version`` no CLI module, ``chant --help`` no argparse, and that help is argparse's,
byte for byte, at every terminal width."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from chant.cli.commands import top_help
from chant.cli.parser import build_parser


def _loaded(code: str) -> tuple[str, set[str]]:
    """What ``code`` prints in a fresh interpreter (80 columns, stdout a pipe), and the
    modules it has loaded by the end."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        check=True,
    )
    return proc.stdout, set(json.loads(proc.stderr.splitlines()[-1]))


def _no_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    def no_terminal(*args: object) -> os.terminal_size:
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    monkeypatch.setenv("COLUMNS", str(columns))


def test_import_chant_loads_only_the_version() -> None:
    _, modules = _loaded("import chant")
    assert {m for m in modules if m.startswith("chant")} == {"chant", "chant._version"}
    assert "typing" not in modules


def test_the_version_loads_no_parser_and_no_error_tree() -> None:
    out, modules = _loaded("from chant.cli.main import main; main(['--version'])")
    assert out.startswith("chant ")
    assert not modules & {"argparse", "typing", "chant.errors", "chant.cli.parser"}


def test_a_local_run_of_shell_steps_loads_no_json_and_nothing_of_temporal() -> None:
    quickstart = os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart")
    # The modules are printed with repr: the probe must not load json itself.
    probe = (
        f"import os, sys; os.chdir({quickstart!r}); from chant.cli.main import main\n"
        "code = main(['run', 'hello', '--local'])\n"
        "print(code, repr(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    code, modules = proc.stderr.splitlines()[-1].split(" ", 1)
    assert code == "0"
    assert "[outcome] Greeting=hello from chant" in proc.stdout
    loaded = set(ast.literal_eval(modules))
    assert not {m for m in loaded if m == "json" or m.startswith(("json.", "temporalio"))}
    assert not {m for m in loaded if m.startswith("chant.temporal")}


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--debug", "--help"], []])
def test_the_top_level_help_loads_no_argparse_when_it_fits(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, modules = _loaded(f"from chant.cli.main import main; main({args!r})")
    assert not modules & {"argparse", "typing", "chant.errors", "chant.cli.parser"}
    _no_terminal(monkeypatch, 80)
    assert out == build_parser(None).format_help()


@pytest.mark.parametrize("columns", [30, 44, 60, 76, 77, 78, 80, 100, 250])
def test_the_top_level_help_is_argparses_at_every_width(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_terminal(monkeypatch, columns)
    written = top_help()
    full = build_parser(None).format_help()
    assert build_parser(["--help"]).format_help() == full
    if columns >= 78:  # every line fits: written without argparse
        assert written == full
    else:  # a line wraps: argparse writes it
        assert written is None
