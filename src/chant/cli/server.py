"""``chant server start|stop|status``: the project's local Temporal dev server.

One dev server may serve several projects (each keeps to its own task queue and
workflow ids): when another project's server, or one started by hand, already serves
the profile's address, ``start`` and ``status`` say so and exit 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chant.errors import ExitCode
from chant.temporal import devserver

NOT_RUNNING = "no dev server of this project is running"


def execute(args: argparse.Namespace) -> int:
    """Start, stop or report on the dev server; ``status`` exits 3 when none serves the
    profile's address."""
    from chant.config import load_config
    from chant.temporal.connect import pick_profile

    config = load_config(Path.cwd())
    profile = pick_profile(config, args.profile)
    root = config.root
    if args.action == "start":
        before = devserver.status(root)
        try:
            info = devserver.start(root, profile.address)
        except devserver.AlreadyServedError as exc:
            print(f"{exc.other.describe(already=True)}; this project uses it")
            print("next: chant run <NAME> --temporal")
            return ExitCode.OK
        already = before is not None and before.pid == info.pid
        print(_running(info, "already running" if already else "running"))
        print("next: chant run <NAME> --temporal")
        return ExitCode.OK
    if args.action == "stop":
        gone = devserver.stop(root)
        if gone is not None:
            print(f"Temporal dev server stopped (pid {gone.pid})")
            return ExitCode.OK
        other = devserver.serving(profile.address)
        if other is None:
            print(NOT_RUNNING)
        elif other.project is not None:
            print(f"{NOT_RUNNING}; {other.describe()}: stop it from there with `chant server stop`")
        else:
            print(f"{NOT_RUNNING}; {other.describe()}: stop it where it was started")
        return ExitCode.OK
    running = devserver.status(root)
    if running is not None:
        print(_running(running, "running"))
        return ExitCode.OK
    other = devserver.serving(profile.address)
    if other is not None:
        print(f"{NOT_RUNNING}; {other.describe()}, and this project uses it")
        return ExitCode.OK
    print(f"{NOT_RUNNING} (start one with chant server start)")
    return ExitCode.UNAVAILABLE


def _running(info: devserver.ServerInfo, state: str) -> str:
    from chant.discover import shown_path  # not before the server is started

    return (
        f"Temporal dev server {state} at {info.address} "
        f"(pid {info.pid}, state in {shown_path(info.db)})"
    )
