"""``chant`` entry point: parse arguments, call a command, map errors to exit codes.

Exit codes are ``chant.errors.ExitCode``: 0 success · 1 the Op failed · 2 usage,
definition or config error · 3 runtime unavailable · 130 interrupted. Errors print one
or two lines on stderr; the traceback only with ``--debug``. The parser is in
``chant.cli.parser``; each command's module is imported only when that command runs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's constant, without importing typing; type checkers read True
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if _asks_version(args):  # answered before anything else is imported: it is asked often
        from chant._version import __version__

        sys.stdout.write(f"chant {__version__}\n")
        return 0  # ExitCode.OK
    from chant.cli.commands import COMMANDS, asks_top_help, top_help

    try:
        # The top-level help, when argparse would not wrap a line of it, without argparse.
        text = top_help() if asks_top_help(args) and "_ARGCOMPLETE" not in os.environ else None
        if text is not None:
            sys.stdout.write(text)
            return 0
        from chant.cli.parser import build_parser

        # Only the command given is built, unless a shell asks for completions.
        parser = build_parser(None if "_ARGCOMPLETE" in os.environ else args)
        if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions (argcomplete)
            from chant.cli.completion import complete

            complete(parser)
        ns = parser.parse_args(args)
        if ns.command is None:
            parser.print_help(sys.stdout)
            return 0  # ExitCode.OK
        import importlib

        module = importlib.import_module(f"chant.cli.{COMMANDS[ns.command][0]}")
        code: int = module.execute(ns)
        return code
    except SystemExit as exc:  # argparse: --help, --version, usage errors (exit 2)
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return 130  # ExitCode.INTERRUPTED
    except BrokenPipeError:  # `chant list | head`: the reader has all it wanted
        from chant.render import LineWriter

        LineWriter(sys.stdout)("")  # points stdout at /dev/null so the exit flush is quiet
        return 0
    except Exception as exc:
        return _failed(exc, debug=debug)
    finally:
        human = sys.modules.get("chant.render.human")
        if human is not None:
            human.close_all()  # no live line outlives the command


def _failed(exc: Exception, *, debug: bool) -> int:
    """Report ``exc`` on stderr and return the exit code: a ``ChantError``'s own, or 1
    for an internal error (docs/cli.md). Imported here, not at start-up: ``chant
    --help`` never needs the error tree."""
    from chant.errors import ChantError, ExitCode

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, ChantError):
        from chant.render import terminal_safe

        # Messages quote names, paths and step output: shown, never acted on.
        shown = "\n".join(terminal_safe(line) for line in str(exc).split("\n"))
        sys.stderr.write(f"chant: error: {shown}\n")
        return exc.exit_code
    sys.stderr.write(
        f"chant: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
        "traceback, and please report it)\n"
    )
    return ExitCode.FAILED


def _asks_version(args: list[str]) -> bool:
    """Whether argparse would answer ``args`` with the version: ``-V`` or ``--version``
    before any command, after any ``--debug``."""
    return next((a for a in args if a != "--debug"), "") in ("-V", "--version")


def entrypoint() -> None:
    """The ``chant`` console script."""
    code = main()
    if "temporalio" in sys.modules:
        # temporalio can crash the interpreter at exit after a successful run (its
        # issue 300); the run's exit code must survive that.
        from chant.temporal.runner import flush_and_exit

        flush_and_exit(code)
    sys.exit(code)
