"""``chant server start|stop|status``: the project's local Temporal dev server."""

from __future__ import annotations

import argparse
from pathlib import Path

from chant.discover import shown_path
from chant.errors import RuntimeUnavailableError
from chant.temporal import devserver

NOT_RUNNING = "no dev server of this project is running"


def execute(args: argparse.Namespace) -> int:
    """Start, stop or report on the dev server; ``status`` exits 3 when none runs."""
    from chant.config import load_config
    from chant.temporal.connect import pick_profile

    config = load_config(Path.cwd())
    profile = pick_profile(config, args.profile)
    root = config.root
    if args.action == "start":
        before = devserver.status(root)
        info = devserver.start(root, profile.address)
        already = before is not None and before.pid == info.pid
        print(_running(info, "already running" if already else "running"))
        print("next: chant run <NAME> --temporal")
        return 0
    if args.action == "stop":
        gone = devserver.stop(root)
        print(f"Temporal dev server stopped (pid {gone.pid})" if gone else NOT_RUNNING)
        return 0
    running = devserver.status(root)
    if running is None:
        print(f"{NOT_RUNNING} (start one with chant server start)")
        return RuntimeUnavailableError.exit_code
    print(_running(running, "running"))
    return 0


def _running(info: devserver.ServerInfo, state: str) -> str:
    return (
        f"Temporal dev server {state} at {info.address} "
        f"(pid {info.pid}, state in {shown_path(info.db)})"
    )
