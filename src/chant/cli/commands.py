"""The commands of ``chant``: each one's module and its line in ``chant --help``, and
that top-level help itself, written without importing argparse when every line of it
fits the terminal (argparse's layout, byte for byte; ``chant.cli.parser`` builds the
same text from the same table and writes it where a line would wrap).

``chant --help`` costs the interpreter's start-up and little more: argparse and the
``re`` and ``enum`` it imports would double it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's constant, without importing typing; type checkers read True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

DESCRIPTION = "chant: named, phased Ops that run locally or on Temporal."
DEBUG_HELP = "show tracebacks for errors"
MAX_HELP_POSITION = 24
"""argparse's default: help text starts at most this far right."""

COMMANDS = {
    "init": ("init", "create chant.toml, ops/hello.op.py and .gitignore"),
    "build": ("build", "validate every Op and write dist/ops/<name>.op.json"),
    "list": ("list_ops", "list Ops: name, phases, steps, overview"),
    "activities": ("activities", "list activities: name, default profile, source, signature"),
    "plan": ("plan", "show what a run of an Op would do, without running it"),
    "run": ("run", "run an Op"),
    "signal": ("manage", "send a gate's signal to an Op's running workflow"),
    "status": ("manage", "show an Op's current run: phase, steps, waiting gates"),
    "history": ("manage", "list an Op's recent runs"),
    "cancel": ("manage", "cancel an Op's running workflow"),
    "schedule": ("schedule", "create, list or delete Temporal Schedules for scheduled Ops"),
    "server": ("server", "start, stop or inspect the local Temporal dev server"),
    "worker": ("worker", "run a Temporal worker for the project's Ops and activities"),
    "schema": ("schema", "print a JSON Schema: the IR, a run result, events or a plan"),
    "completion": ("completion", "print the shell completion script for bash, zsh or fish"),
}
"""Each command, in ``chant --help`` order: the module of ``chant.cli`` that runs it
(its ``execute(args)``) and its help line."""


def help_width() -> int:
    """The width help is wrapped to: the terminal's, else ``COLUMNS``, else 80; minus 2,
    as argparse does."""
    try:
        width = os.get_terminal_size().columns
    except OSError:
        width = int(os.environ.get("COLUMNS", "80") or 80)
    return width - 2


def asks_top_help(args: Sequence[str]) -> bool:
    """Whether ``args`` can only print the top-level help: ``--help`` (or ``-h``) or
    nothing at all, after any ``--debug``."""
    rest = list(args)
    while rest and rest[0] == "--debug":
        del rest[0]
    return not rest or rest[0] in ("-h", "--help")


def top_help() -> str | None:
    """``chant --help`` as argparse writes it, or None when a line of it would not fit
    the width (argparse wraps it then)."""
    _ = _translation()
    width = help_width()
    options = [
        ("-h, --help", _("show this help message and exit")),
        ("-V, --version", _("show program's version number and exit")),
        ("--debug", DEBUG_HELP),
    ]
    usage = _("usage: ") + "chant [-h] [-V] [--debug] COMMAND ..."
    longest = max(max(map(len, ("COMMAND", *COMMANDS))), max(len(o) for o, _h in options)) + 2
    column = min(longest + 2, min(MAX_HELP_POSITION, max(width - 20, 4)))
    rows = [(4, name, line) for name, (_module, line) in COMMANDS.items()]
    rows += [(2, option, line) for option, line in options]
    fits = len(usage) <= width and len(DESCRIPTION) <= width
    fits = fits and all(len(c) <= column - i - 2 and len(h) <= width - column for i, c, h in rows)
    if not fits or any("%" in h or "  " in h for _i, _c, h in rows):
        return None
    lines = [usage, "", DESCRIPTION, "", _("positional arguments") + ":", "  COMMAND"]
    lines += [f"{' ' * i}{c.ljust(column - i)}{h}" for i, c, h in rows[: len(COMMANDS)]]
    lines += ["", _("options") + ":"]
    lines += [f"{' ' * i}{c.ljust(column - i)}{h}" for i, c, h in rows[len(COMMANDS) :]]
    return "\n".join(lines) + "\n"


def _translation() -> Callable[[str], str]:
    """What argparse passes its own words through (``gettext.gettext``). Where the
    folder gettext reads catalogs from by default does not exist, no word of it can be
    translated: then gettext (which imports ``re``) is not needed."""
    if not os.path.isdir(os.path.join(sys.base_prefix, "share", "locale")):
        return str
    import gettext

    return gettext.gettext
