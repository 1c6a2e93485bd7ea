"""An activity that tries to end the program fails its step; chant decides the exit."""

from __future__ import annotations

import asyncio
import os
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


def _os_exit_0() -> None:
    os._exit(0)


async def _async_os_exit_3() -> None:
    os._exit(3)


CASES: dict[str, tuple[Callable[..., Any], str]] = {
    "sync sys.exit('x')": (_exit_x, "called sys.exit('x')"),
    "sync sys.exit(0)": (_exit_0, "called sys.exit(0)"),
    "sync KeyboardInterrupt": (_interrupt, "raised KeyboardInterrupt"),
    "sync GeneratorExit": (_generator_exit, "raised GeneratorExit"),
    "async sys.exit('x')": (_async_exit_x, "called sys.exit('x')"),
    "async KeyboardInterrupt": (_async_interrupt, "raised KeyboardInterrupt(stop)"),
    "async GeneratorExit": (_async_generator_exit, "raised GeneratorExit"),
    "sync os._exit(0)": (_os_exit_0, "called os._exit(0)"),
    "async os._exit(3)": (_async_os_exit_3, "called os._exit(3)"),
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
    assert os._exit.__module__ == "posix", "os._exit is chant's own again after the run"


class _Custom(BaseException):
    pass


def _raise(exc: BaseException) -> Callable[..., Any]:
    def sync() -> None:
        raise exc

    return sync


def _raise_async(exc: BaseException) -> Callable[..., Any]:
    async def coroutine() -> None:
        await asyncio.sleep(0)
        raise exc

    return coroutine


OTHER_BASE: dict[str, tuple[Callable[..., Any], dict[str, str]]] = {
    "sync CancelledError": (
        _raise(asyncio.CancelledError()),
        {"type": "CancelledError", "message": ""},
    ),
    "async CancelledError": (
        _raise_async(asyncio.CancelledError("own")),
        {"type": "CancelledError", "message": "own"},
    ),
    "sync BaseException subclass": (
        _raise(_Custom("custom")),
        {"type": "_Custom", "message": "custom"},
    ),
    "async BaseException subclass": (
        _raise_async(_Custom("custom")),
        {"type": "_Custom", "message": "custom"},
    ),
    "sync StopIteration": (_raise(StopIteration()), {"type": "StopIteration", "message": ""}),
    "sync StopAsyncIteration": (
        _raise(StopAsyncIteration("x")),
        {"type": "StopAsyncIteration", "message": "x"},
    ),
}


@pytest.mark.parametrize("case", list(OTHER_BASE))
def test_other_base_exceptions_an_activity_raises_fail_the_attempt_like_an_exception(
    case: str,
) -> None:
    """Not taken for a cancel of the step (CancelledError), not a crash of the run (a
    BaseException of its own), not a hang until the timeout (StopIteration, which a
    Future refuses): an ordinary failed attempt, retried, then on_failure."""
    fn, error = OTHER_BASE[case]
    registry = Registry([ActivityDef(name="odd", fn=fn), *BUILTINS])
    op = Op(
        name="odd",
        phases=[phase("Work", [activity("odd", profile=THRICE)])],
        on_failure=[phase("Undo", [shell("echo undone")])],
    )
    problems: list[Problem] = []
    resolved = resolve_op(op, profiles={}, activities=registry.defaults(), problems=problems)
    assert problems == []
    result = asyncio.run(asyncio.wait_for(LocalExecutor(registry).run(resolved), 20))
    by_id = {s.id: s for s in result.steps}
    failed = by_id["work.1"]
    assert (failed.status, failed.attempts, failed.error) == ("failed", 3, error)
    assert by_id["undo.1"].status == "ok"
    assert result.status == "failed"


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
