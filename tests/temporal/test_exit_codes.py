"""The run's exit code survives temporalio's shutdown, every time.

temporalio can crash the interpreter at exit after a run has succeeded (sdk-python
issue 300); chant leaves through ``os._exit`` after flushing. Twenty real runs,
alternating success and failure, must each exit with their own code and print their
last line."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from conftest import Ran

OPS = """
from chant import Op, Profile, Retry, phase, shell

good = Op(name="good-{tag}", phases=[phase("Go", [shell("echo fine")])])
bad = Op(
    name="bad-{tag}",
    phases=[phase("Go", [shell("exit 4", profile=Profile(retry=Retry(max_attempts=1)))])],
)
"""


def test_twenty_runs_each_exit_with_the_runs_own_code(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], temporal_server
) -> None:
    tag = uuid.uuid4().hex[:6]
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"exit-{tag}"),
            "ops/pair.op.py": OPS.format(tag=tag),
        }
    )
    seen = []
    for i in range(20):
        name, code = (f"good-{tag}", 0) if i % 2 == 0 else (f"bad-{tag}", 1)
        ran = chant_proc("run", name, cwd=root, timeout=60)
        last = ran.out.rstrip().splitlines()[-1] if ran.out.strip() else ""
        verb = "completed in" if code == 0 else "failed after"
        seen.append((ran.code, last.startswith(f'Op "{name}" {verb}'), ran.err.count("\n")))
        assert ran.code == code, f"run {i + 1}: exit {ran.code}\n{ran.out}\n{ran.err}"
    # Every run printed its final line, and stderr held only the mode notice.
    assert seen == [(i % 2, True, 1) for i in range(20)]
