"""An installed package whose ``chant.activities`` entry point cannot be loaded is listed
as such, breaks nothing else, and fails only the Ops that use it (exit 2, before a run)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import MakeProject, Ran


def install(site: Path, dist: str, files: dict[str, str], entry_points: str) -> None:
    """A real distribution on ``site``: its modules and a dist-info with entry_points.txt,
    what pip leaves behind."""
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[chant.activities]\n{entry_points}\n")


# case: (module text, entry point target, the error chant names)
BROKEN = {
    "ImportError": (
        "import acme_no_such_dependency\n",
        "acme_bad:bad",
        "ModuleNotFoundError: No module named 'acme_no_such_dependency'",
    ),
    "SyntaxError": ("def bad(:\n", "acme_bad:bad", "SyntaxError: invalid syntax ("),
    "RuntimeError": ("raise RuntimeError('no config file')\n", "acme_bad:bad", None),
    "SystemExit": ("import sys\nsys.exit(3)\n", "acme_bad:bad", "SystemExit: 3"),
    "missing attribute": (
        "async def other() -> None: ...\n",
        "acme_bad:bad",
        "AttributeError: module 'acme_bad' has no attribute 'bad'",
    ),
    "not callable": (
        "bad = 42\n",
        "acme_bad:bad",
        "TypeError: acme_bad:bad is not callable (it is of type int)",
    ),
    "missing module": ("", "acme_gone:bad", "ModuleNotFoundError: No module named 'acme_gone'"),
    "prints and exits": (
        "print('hello from import')\nraise SystemExit('bye')\n",
        "acme_bad:bad",
        None,
    ),
}

OPS = """
from chant import Op, activity, phase, shell

hello = Op(name="hello", phases=[phase("P", [shell("echo hi")])])
greets = Op(name="greets", phases=[phase("P", [activity("greet", who="ops", outcome="Said")])])
"""

USES_BAD = """
from chant import Op, activity, phase

uses_bad = Op(name="uses-bad", phases=[phase("P", [activity("bad", x=1)])])
"""


def broken_site(tmp_path: Path, case: str) -> tuple[dict[str, str], str]:
    """A site with a good package (``greet``) and a broken one (``bad``); the PYTHONPATH
    env and the error text chant must show."""
    module, target, shown = BROKEN[case]
    site = tmp_path / "site"
    install(
        site,
        "acme-good",
        {"acme_good/__init__.py": "async def greet(who: str) -> str:\n    return f'hi {who}'\n"},
        "greet = acme_good:greet",
    )
    install(site, "acme-bad", {"acme_bad/__init__.py": module}, f"bad = {target}")
    if shown is None:
        shown = {
            "RuntimeError": "RuntimeError: no config file",
            "prints and exits": "SystemExit: bye",
        }[case]
    return {"PYTHONPATH": str(site)}, shown


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_entry_point_is_listed_and_breaks_nothing_else(
    case: str, tmp_path: Path, make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    env, shown = broken_site(tmp_path, case)
    target = BROKEN[case][1]
    root = make_project({"ops/ops.op.py": OPS})

    listed = chant_proc("activities", cwd=root, env=env)
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    at = lines.index(f"bad               fast_idempotent  entry point bad = {target} (acme-bad)")
    assert lines[at + 1].startswith(f"                  bad(…)  [cannot be imported: {shown}")
    assert lines[at + 1].endswith("]")
    assert "greet(who: str)" in listed.out
    assert "Traceback" not in listed.err

    as_json = chant_proc("activities", "--json", cwd=root, env=env)
    assert as_json.code == 0, as_json.err
    rows = {r["name"]: r for r in json.loads(as_json.out)}  # what the import printed is not here
    assert rows["bad"]["error"].startswith(shown)
    assert rows["bad"]["source"] == f"entry point bad = {target} (acme-bad)"
    assert rows["greet"]["error"] is None
    assert rows["shell"]["error"] is None

    built = chant_proc("build", cwd=root, env=env)
    assert built.code == 0, built.err
    ran = chant_proc("run", "greets", "--local", "--json", cwd=root, env=env)
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["steps"][0]["outcome"] == {"name": "Said", "value": "hi ops"}
    assert "internal error" not in ran.err


@pytest.mark.parametrize("case", ["ImportError", "SystemExit", "not callable"])
def test_an_op_using_a_broken_entry_point_exits_2_naming_it(
    case: str, tmp_path: Path, make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    env, shown = broken_site(tmp_path, case)
    root = make_project({"ops/ops.op.py": OPS, "ops/bad.op.py": USES_BAD})
    problem = (
        'ops/bad.op.py:3: op "uses-bad": step "p.1": activity "bad" cannot be imported: '
        f"entry point bad = acme_bad:bad (acme-bad) failed with {shown}"
    )
    ran = chant_proc("run", "uses-bad", "--local", cwd=root, env=env)
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err.startswith(f"chant: error: 1 problem in the project:\n{problem}")
    assert ran.err.endswith("; fix or reinstall that package, or uninstall it\n")
    built = chant_proc("build", cwd=root, env=env)
    assert (built.code, built.err) == (2, ran.err)
    listed = chant_proc("activities", "--json", cwd=root, env=env)
    assert (listed.code, listed.err) == (2, ran.err)
    assert {r["name"]: r for r in json.loads(listed.out)}["bad"]["error"].startswith(shown)
