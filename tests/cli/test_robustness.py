"""chant keeps its promises when the world misbehaves around it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import Ran


def test_a_closed_output_pipe_does_not_stop_the_op(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(
        {
            "ops/p.op.py": """
            from chant import Op, phase, shell

            loud = Op(name="loud", phases=[phase("P", [
                shell("seq 1 2000; sleep 0.2"),
                shell("touch finished.marker"),
            ])])
            """
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "chant", "run", "loud", "--local", "--progress-json"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    code = proc.wait(timeout=30)
    assert first["type"] == "run_started"
    assert (root / "finished.marker").exists()
    assert code == 0
    assert "internal error" not in err and "BrokenPipeError" not in err


def test_a_timed_out_plain_function_does_not_keep_chant_alive(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project(
        {
            "ops/s.op.py": """
            import time
            from chant import Op, Profile, Retry, activity, phase

            @activity
            def nap(seconds: float) -> None:
                time.sleep(seconds)

            sleepy = Op(name="sleepy", phases=[phase("P", [
                activity("nap", seconds=60,
                         profile=Profile(timeout="300ms", retry=Retry(max_attempts=1))),
            ])])
            """
        }
    )
    # Were the thread waited for, this would take 60 s and hit the 30 s bound.
    ran = chant_proc("run", "sleepy", "--local", "--json", cwd=root, timeout=30)
    assert ran.code == 1
    step = json.loads(ran.out)["steps"][0]
    assert step["error"]["type"] == "ActivityTimeoutError"


def test_local_and_temporal_together_is_reported_before_loading_anything(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project({"ops/broken.op.py": "this is not python\n"})
    ran = chant("run", "x", "--local", "--temporal", cwd=root)
    assert ran.code == 2
    assert ran.err == (
        "chant: error: --local and --temporal cannot be used together\n"
        "  hint: pass one of them, or neither\n"
    )


def test_options_are_not_abbreviated(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project({"ops/x.op.py": "from chant import Op\n"})
    ran = chant("run", "x", "--prog", cwd=root)
    assert ran.code == 2
    assert "unrecognized arguments: --prog" in ran.err


def test_a_missing_ops_folder_is_named(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project({"chant.toml": '[project]\nops = ["opz"]\n'})
    ran = chant("list", cwd=root)
    assert ran.code == 2
    assert ran.err == (
        "chant: error: 1 problem in the project:\n"
        'chant.toml:2: folder "opz" listed in [project] ops does not exist\n'
        "  hint: create opz/ or remove it from the list\n"
    )
