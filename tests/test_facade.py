"""The public facade and what importing chant costs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import chant as chant_pkg
from conftest import Ran


def test_all_is_sorted_and_complete() -> None:
    assert chant_pkg.__all__ == sorted(chant_pkg.__all__)
    for name in (
        "Op",
        "Outcome",
        "Profile",
        "Retry",
        "activity",
        "gate",
        "phase",
        "secret",
        "shell",
    ):
        assert name in chant_pkg.__all__
    assert all(hasattr(chant_pkg, name) for name in chant_pkg.__all__)


def test_importing_chant_loads_no_event_loop_cli_or_temporal() -> None:
    code = "import chant, sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert not loaded & {"asyncio", "argparse", "click", "temporalio", "tomllib"}


def test_a_local_run_never_imports_temporalio(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project(
        {
            "ops/m.op.py": """
            import sys
            from chant import Op, activity, phase

            @activity
            def modules() -> list[str]:
                return sorted(m for m in sys.modules if m.split(".")[0] in {"temporalio", "click"})

            probe = Op(name="probe", phases=[phase("P", [activity("modules", outcome="Mods")])])
            """
        }
    )
    ran = chant_proc("run", "probe", "--local", "--json", cwd=root)
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["steps"][0]["outcome"] == {"name": "Mods", "value": []}


def test_an_activity_declared_in_an_op_file_runs_through_chant_run(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project(
        {
            "ops/own.op.py": """
            from chant import Op, activity, phase

            @activity
            async def double(n: int) -> dict[str, int]:
                return {"n": n * 2}

            own = Op(name="own", phases=[phase("Math", [activity("double", n=21,
                                                                 outcome=("Doubled"))])])
            """
        }
    )
    ran = chant("run", "own", "--local", cwd=root)
    assert ran.code == 0, ran.err
    assert '[outcome] Doubled={"n": 42}' in ran.out


def test_debug_shows_the_traceback_of_an_error(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project({"ops/x.op.py": "from chant import Op\n"})
    plain = chant("run", "nope", "--local", cwd=root)
    debug = chant("run", "nope", "--local", "--debug", cwd=root)
    assert (plain.code, debug.code) == (2, 2)
    assert "Traceback" not in plain.err
    assert "Traceback (most recent call last)" in debug.err
    assert 'chant: error: no Op named "nope"' in debug.err


def test_version_and_help(chant: Callable[..., Ran], tmp_path: Path) -> None:
    ran = chant("--version", cwd=tmp_path)
    assert (ran.code, ran.out) == (0, f"chant {chant_pkg.__version__}\n")
    ran = chant("run", "--help", cwd=tmp_path)
    assert ran.code == 0 and "--progress-json" in ran.out
