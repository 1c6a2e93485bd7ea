"""An activity that tries to end the program fails its step; chant decides the exit."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Profile, Retry, activity, phase, shell
from chant.activities.registry import BUILTINS, ActivityDef, Registry
from chant.errors import Problem
from chant.local.executor import LocalExecutor
from chant.plan import resolve_op
from conftest import Ran

THRICE = Profile(timeout="5s", retry=Retry(max_attempts=3, initial_interval="10ms"))


def _exit_x() -> None:
    sys.exit("x")


def _exit_0() -> None:
    sys.exit(0)


def _interrupt() -> None:
    raise KeyboardInterrupt


def _generator_exit() -> None:
    raise GeneratorExit


async def _async_exit_x() -> None:
    await asyncio.sleep(0)
    sys.exit("x")


async def _async_interrupt() -> None:
    raise KeyboardInterrupt("stop")


async def _async_generator_exit() -> None:
    raise GeneratorExit


CASES: dict[str, tuple[Callable[..., Any], str]] = {
    "sync sys.exit('x')": (_exit_x, "called sys.exit('x')"),
    "sync sys.exit(0)": (_exit_0, "called sys.exit(0)"),
    "sync KeyboardInterrupt": (_interrupt, "raised KeyboardInterrupt"),
    "sync GeneratorExit": (_generator_exit, "raised GeneratorExit"),
    "async sys.exit('x')": (_async_exit_x, "called sys.exit('x')"),
    "async KeyboardInterrupt": (_async_interrupt, "raised KeyboardInterrupt(stop)"),
    "async GeneratorExit": (_async_generator_exit, "raised GeneratorExit"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_activity_ending_the_program_fails_its_step_without_retry(case: str) -> None:
    fn, what = CASES[case]
    registry = Registry([ActivityDef(name="quits", fn=fn), *BUILTINS])
    op = Op(
        name="quits",
        phases=[
            phase("Work", [activity("quits", profile=THRICE)]),
            phase("Later", [shell("true")]),
        ],
        on_failure=[phase("Undo", [shell("echo undone")])],
    )
    problems: list[Problem] = []
    resolved = resolve_op(op, profiles={}, activities=registry.defaults(), problems=problems)
    assert problems == []
    executor = LocalExecutor(registry)
    result = asyncio.run(asyncio.wait_for(executor.run(resolved), 20))
    assert not result.ok
    by_id = {s.id: s for s in result.steps}
    failed = by_id["work.1"]
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.error == {
        "type": "ActivityExitError",
        "message": f'activity "quits" {what}; an activity must return its result or '
        "raise an exception, not end the program",
    }
    assert by_id["later.1"].status == "skipped"
    assert by_id["undo.1"].status == "ok"


OP_FILE = """
import sys

from chant import Op, activity, phase, shell


@activity
def leave(code: str = "x") -> None:
    sys.exit(code)


@activity
async def interrupt() -> None:
    raise KeyboardInterrupt


quits = Op(
    name="quits",
    phases=[phase("Work", [activity("leave", code="{code}")])],
    on_failure=[phase("Undo", [shell("echo undone")])],
)
stops = Op(
    name="stops",
    phases=[phase("Work", [activity("interrupt")])],
    on_failure=[phase("Undo", [shell("echo undone")])],
)
"""


@pytest.mark.parametrize(("name", "code"), [("quits", "x"), ("quits", "0"), ("stops", "")])
def test_chant_run_exits_1_with_no_traceback(
    tmp_path: Path, chant_proc: Callable[..., Ran], name: str, code: str
) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "q.op.py").write_text(OP_FILE.replace("{code}", code))
    ran = chant_proc("run", name, "--local", cwd=tmp_path)
    assert ran.code == 1, ran.err
    assert "Traceback" not in ran.out + ran.err
    assert "ActivityExitError" in ran.out
    assert "undone" in ran.out
    assert f'Op "{name}" failed after' in ran.out
