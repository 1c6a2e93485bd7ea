"""Shell completion through argcomplete: ``chant completion bash|zsh|fish`` prints the
script, and a shell that completes runs ``chant`` with ``_ARGCOMPLETE`` set, which lands
in ``complete`` before any argument is parsed.

Commands and options come from the parser. Op names (for ``chant run NAME`` and the
Temporal commands' ``OP``) need the project's op files imported, as nothing else knows
them: each file is imported under chant's usual guard (it cannot exit, fork or exec),
with at most ``FILE_SECONDS`` per file and ``TOTAL_SECONDS`` in all, so a slow or broken
file costs a moment of the prompt, never a hang. Files that fail are skipped quietly.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

FILE_SECONDS = 2.0
"""The longest one op file may take to import while completing."""
TOTAL_SECONDS = 3.0
"""Once this much time went on importing, the remaining files are left out."""
OP_ARGUMENTS = {"name", "op"}
"""The positional arguments (by dest) that take an Op name."""


def op_names(prefix: str = "", **_: Any) -> list[str]:
    """The names of the project's Ops that start with ``prefix``, in discovery order."""
    from pathlib import Path

    from chant.config import load_config
    from chant.discover import find_op_files, import_timeout, load_op_file
    from chant.errors import ChantError
    from chant.imports import project_imports
    from chant.names import is_op_name

    try:
        config = load_config(Path.cwd())
        files = find_op_files(config)
        per_file = min(import_timeout(), FILE_SECONDS)
    except (ChantError, OSError):
        return []
    names: list[str] = []
    deadline = time.monotonic() + TOTAL_SECONDS
    with project_imports(config.root):  # as discovery does: op files import helpers
        for path in files:
            if time.monotonic() > deadline:
                break
            try:
                ops, _problem = load_op_file(path, per_file)
            except Exception:  # a completion must never fail loudly
                continue
            # Only names `chant run` could be asked for ("Bad Name" is an error, not an Op).
            names += [o.name for o in ops if is_op_name(o.name) and o.name not in names]
    return [n for n in names if n.startswith(prefix)]


def _attach(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _attach(sub)
        elif not action.option_strings and action.dest in OP_ARGUMENTS:
            action.completer = op_names  # type: ignore[attr-defined]


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol)."""
    import argcomplete

    _attach(parser)
    argcomplete.autocomplete(parser, always_complete_options=False)


def execute(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell``."""
    from argcomplete.shell_integration import shellcode

    from chant.errors import ExitCode
    from chant.render import LineWriter

    LineWriter(sys.stdout)(shellcode(["chant"], shell=args.shell).rstrip("\n"))
    return ExitCode.OK
