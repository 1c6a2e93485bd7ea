"""``chant`` entry point: parse arguments, call a command, map errors to exit codes.

Exit codes: 0 success · 1 the Op failed · 2 usage, definition or config error ·
3 runtime unavailable · 130 interrupted. Errors print one or two lines on stderr; the
traceback only with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from chant import __version__
from chant.errors import ChantError

EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chant")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """chant: named, phased Ops that run locally or on Temporal."""


def _register() -> None:
    from chant.cli import build, init, list_ops, run

    for module in (init, build, list_ops, run):
        cli.add_command(module.command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _register()
    try:
        code = cli.main(args=args, prog_name="chant", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return EXIT_INTERRUPTED
    except ChantError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"chant: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(
            f"chant: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
            "traceback, and please report it)",
            err=True,
        )
        return 1
    return code if isinstance(code, int) else 0


def entrypoint() -> None:
    """The ``chant`` console script."""
    sys.exit(main())
