"""``auto_start = true``: when nothing answers, chant starts the project's dev server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from chant.temporal import devserver
from conftest import Ran, alive, wait_gone
from temporal_server import free_port

HELLO = """
from chant import Op, phase, shell

hello = Op(name="hello", phases=[phase("Greet", [shell("echo hi")])])
"""


def test_auto_start_starts_the_dev_server_when_nothing_answers(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    address = f"127.0.0.1:{free_port()}"
    root = make_project(
        {
            "chant.toml": f"""
                [temporal]
                [temporal.profiles.dev]
                address = "{address}"
                auto_start = true
                """,
            "ops/hello.op.py": HELLO,
        }
    )
    try:
        ran = chant_proc("run", "hello", "--json", cwd=root, timeout=90)
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["ok"] is True
        info = devserver.status(root)
        assert info is not None and info.address == address
        assert alive(info.pid)
        assert (root / ".chant" / "server" / "temporal.db").exists()
        # The next run finds it answering and starts nothing new.
        again = chant_proc("run", "hello", cwd=root, timeout=60)
        assert again.code == 0, again.err
        after = devserver.status(root)
        assert after is not None and after.pid == info.pid
        history = chant_proc("history", "hello", "--json", cwd=root)
        assert [r["status"] for r in json.loads(history.out)] == ["completed", "completed"]
    finally:
        stopped = devserver.stop(root)
    assert stopped is not None and wait_gone(stopped.pid)


def test_without_auto_start_an_unreachable_cluster_exits_3_and_starts_nothing(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    port = free_port()
    root = make_project(
        {
            "chant.toml": f"""
                [temporal]
                [temporal.profiles.dev]
                address = "127.0.0.1:{port}"
                """,
            "ops/hello.op.py": HELLO,
        }
    )
    ran = chant_proc("run", "hello", "--temporal", cwd=root, timeout=60)
    assert ran.code == 3
    assert ran.err.splitlines()[0] == (
        f"chant: error: cannot reach Temporal at 127.0.0.1:{port} (profile dev): connection refused"
    )
    assert ran.err.splitlines()[1:] == [
        (
            "  hint: start one with `chant server start`, set auto_start = true in "
            "[temporal.profiles.dev], or run with --local"
        )
    ]
    assert devserver.status(root) is None
    assert not (root / ".chant" / "server").exists()
