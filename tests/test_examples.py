"""The shipped examples run as documented."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Ran

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart"


def test_quickstart_hello_runs_locally(chant_proc: Callable[..., Ran]) -> None:
    ran = chant_proc("run", "hello", cwd=QUICKSTART)
    assert ran.code == 0, ran.err
    assert "[outcome] Greeting=hello from chant" in ran.out
    assert 'Op "hello" completed in' in ran.out
    assert ran.err == (
        'chant: no [temporal] in chant.toml — running "hello" locally '
        "(in-process: no gates, schedules or resume)\n"
    )


def test_quickstart_rollout_rolls_back_when_the_deploy_fails(
    chant_proc: Callable[..., Ran],
) -> None:
    ran = chant_proc("run", "rollout", "--local", cwd=QUICKSTART, env={"FAIL": "1"})
    assert ran.code == 1
    assert "rolling back to 1.4.1" in ran.out
    assert ran.out.rstrip().endswith(
        "step deploy.1 failed: CommandFailedError: command exited with 1: cluster said no"
    )


def test_the_quickstart_is_exactly_what_chant_init_writes() -> None:
    # The README's tutorial and `make demo` must show the same files a new user gets.
    from chant.cli.init import FILES

    for name, text in FILES.items():
        assert (QUICKSTART / name).read_text() == text, name
