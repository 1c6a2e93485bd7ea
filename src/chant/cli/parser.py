"""The ``chant`` command line: every command, option and help text, and a "did you
mean" for a mistyped one.

The parser is argparse (as in pip and Ansible) rather than click: it is in the
standard library and costs a fifth of click's import time, which matters when
``chant run hello`` should start about as fast as a bare asyncio script.
"""

from __future__ import annotations

import argparse

from chant._version import __version__
from chant.cli.commands import COMMANDS, DEBUG_HELP, DESCRIPTION, asks_top_help, help_width

TYPE_CHECKING = False  # typing's constant, without importing typing; type checkers read True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

TEMPORAL_COMMANDS = ("signal", "status", "history", "cancel", "schedule", "server", "worker")
"""The commands ``chant.cli.temporal_parser`` adds (only when one of them may be asked for)."""


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, minus its import of shutil (and shutil's of bz2, lzma, …)
    just to learn the terminal width."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24) -> None:
        super().__init__(prog, indent_increment, max_help_position, help_width())


class _Parser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a mistyped command or option (as git and
    kubectl have); every subcommand's parser is one of these too."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            from chant.names import did_you_mean

            names = [str(c) for c in choices]
            hint = did_you_mean(str(value), names) or f"choose from {', '.join(names)}"
            if isinstance(action, argparse._SubParsersAction):
                what = "command" if action.dest == "command" else str(action.dest)
                raise argparse.ArgumentError(None, f'unknown {what} "{value}"; {hint}')
            raise argparse.ArgumentError(action, f'unknown value "{value}"; {hint}')
        super()._check_value(action, value)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = super().parse_known_args(args, namespace)
        if extras and isinstance(getattr(ns, "params", None), list):
            # argparse fills a trailing nargs="*" positional once, at its first chunk:
            # `run NAME --local a=1 b=2` leaves a=1 and b=2 over. They are KEY=VALUEs.
            ns.params = [*ns.params, *(e for e in extras if not e.startswith("-"))]
            extras = [e for e in extras if e.startswith("-")]
        if extras and self.prog == "chant":  # the top parser reports them all
            chain = _chosen(self, ns)
            # ... as the command given (its usage, "chant run: error:"), as git does.
            chain[-1].error(_unrecognized(chain, extras))
        return ns, extras


def _chosen(
    parser: argparse.ArgumentParser, ns: argparse.Namespace
) -> list[argparse.ArgumentParser]:
    """``parser`` and the parser of each command (and action) given on the line."""
    chain = [parser]
    while True:
        subs = [a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(ns, subs[0].dest, None) if subs else None
        if not (subs and chosen and chosen in subs[0].choices):
            return chain
        chain.append(subs[0].choices[chosen])


def _unrecognized(chain: list[argparse.ArgumentParser], extras: list[str]) -> str:
    """argparse's "unrecognized arguments" message, with the closest option of the
    command that was given when one is close (``--jsno``: did you mean --json?)."""
    options = [o for parser in chain for a in parser._actions for o in a.option_strings]
    message = f"unrecognized arguments: {' '.join(extras)}"
    for extra in extras:
        if extra.startswith("-") and extra not in options:
            import difflib

            close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.6)
            if close:
                return f"{message}; did you mean {close[0]}?"
    return message


class _Skipped(_Parser):
    """Stands for a command that is not on the line: what its builder adds is dropped."""

    def __init__(self) -> None:  # no argparse set-up: nothing is ever parsed with it
        pass

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def add_subparsers(self, **kwargs: Any) -> Any:
        return self

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        return self

    def add_parser(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


if TYPE_CHECKING:
    _Subs = argparse._SubParsersAction[_Parser]
else:  # not subscriptable at run time
    _Subs = argparse._SubParsersAction


class _Commands(_Subs):
    """The commands. With ``only`` set, the other commands are not built: their
    arguments cost ``chant run`` more instructions than anything else at start-up.
    With ``only`` empty, none is built, but each is listed with its help line: the
    top-level ``--help`` shows no more."""

    only: str | None = None
    built = False

    def add_parser(self, name: str, **kwargs: Any) -> _Parser:
        if self.only == "":
            self._choices_actions.append(self._ChoicesPseudoAction(name, (), kwargs["help"]))
            self._name_parser_map[name] = stand_in = _Skipped()
            return stand_in
        if self.only is not None and name != self.only:
            return _Skipped()
        self.built = True
        return super().add_parser(name, **kwargs)


def _command_on(args: Sequence[str]) -> str | None:
    """The command ``args`` name: the first argument after any ``--debug``; empty (list
    the commands, build none) when the top-level help is all it can print (``--help``,
    or nothing); None (build every command) for any other option."""
    if asks_top_help(args):
        return ""
    rest = [a for a in args if a != "--debug"]
    return rest[0] if not rest[0].startswith("-") else None


def build_parser(args: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command and option, or, given the command line ``args``,
    of its command alone: the same parse, usage and errors, for less. An unknown
    command gets every command's parser, for its "did you mean"."""
    only = None if args is None else _command_on(args)
    parser, commands = _parser(only)
    return _parser(None)[0] if only and not commands.built else parser


def _parser(only: str | None) -> tuple[_Parser, _Commands]:
    parser = _Parser(
        prog="chant",
        description=DESCRIPTION,
        allow_abbrev=False,
        formatter_class=_Formatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"chant {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    # Not required: a bare `chant` prints the help (exit 0), as kubectl, cargo and gh do.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_Commands)
    assert isinstance(sub, _Commands)
    sub.only = only
    _project_commands(sub)
    _plan_command(sub)
    _run_command(sub)
    if only is None or only == "" or only in TEMPORAL_COMMANDS:
        from chant.cli.temporal_parser import temporal_commands

        temporal_commands(sub)
    schema = _command(
        sub,
        "schema",
        "Print the JSON Schema (draft 2020-12) of a document chant writes: ir (the IR of "
        "`chant build`), result (`chant run --json`), events (one line of "
        "`chant run --progress-json`) or plan (`chant plan --json`).",
    )
    schema.add_argument("document", choices=("ir", "result", "events", "plan"), metavar="DOCUMENT")
    completion = _command(
        sub,
        "completion",
        "Print the script that completes chant's commands, options and Op names "
        'in SHELL. bash: eval "$(chant completion bash)" in ~/.bashrc; zsh: the same in '
        "~/.zshrc; fish: chant completion fish | source in ~/.config/fish/config.fish.",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL")
    return parser, sub


def _command(
    sub: argparse._SubParsersAction[_Parser], name: str, description: str
) -> argparse.ArgumentParser:
    """Add the command ``name``: its line of ``COMMANDS`` in ``chant --help``,
    ``description`` in its own."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        allow_abbrev=False,
        formatter_class=_Formatter,
        help=COMMANDS[name][1],
        description=description,
    )
    return parser


def _project_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``init``, ``build``, ``list`` and ``activities``: the project, not its runs."""
    init = _command(
        sub,
        "init",
        "Create chant.toml, ops/hello.op.py and .gitignore in DIRECTORY "
        "(default: here). Refuses to overwrite existing files.",
    )
    init.add_argument("directory", nargs="?", default=".", metavar="DIRECTORY")

    _command(
        sub,
        "build",
        "Validate every Op and write its IR to dist/ops/<name>.op.json.",
    )

    listing = _command(
        sub,
        "list",
        "List every Op of the project: name, phases, steps and overview.",
    )
    listing.add_argument("--json", dest="as_json", action="store_true", help="print JSON")

    acts = _command(
        sub,
        "activities",
        "List every registered activity: the built-ins, the project's "
        "@activity functions and those of installed packages (chant.activities entry points).",
    )
    acts.add_argument("--json", dest="as_json", action="store_true", help="print JSON")


def _op_and_params(parser: argparse.ArgumentParser) -> None:
    """``NAME [KEY=VALUE ...]``: which Op, with which values (``--params-file`` too)."""
    parser.add_argument("name", metavar="NAME")
    parser.add_argument(
        "params",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="a value of one of the Op's parameters (`chant list` shows them)",
    )


def _params_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-file",
        metavar="FILE",
        help="read parameter values from FILE, a JSON object; KEY=VALUEs override them",
    )


def _plan_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    plan = _command(
        sub,
        "plan",
        "Show what `chant run NAME` would do, without running anything: its phases and "
        "steps with the parameter values put in, profiles, conditions, gates, on_failure, "
        "the worst-case time budget and the plan's digest (which the run shows too).",
    )
    _op_and_params(plan)
    _params_file(plan)
    plan.add_argument(
        "--no-retry", action="store_true", help="plan every step with a single attempt"
    )
    shape = plan.add_mutually_exclusive_group()
    shape.add_argument("--json", dest="as_json", action="store_true", help="print the plan as JSON")
    shape.add_argument(
        "--mermaid", action="store_true", help="print the plan as a Mermaid flowchart"
    )
    shape.add_argument("--dot", action="store_true", help="print the plan as a Graphviz graph")
    _debug_flag(plan)


def _run_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    run = _command(
        sub,
        "run",
        "Run the Op called NAME. No build is needed: it is loaded from its "
        "*.op.py. Without --local or --temporal, chant runs on Temporal when chant.toml has "
        "a [temporal] table, otherwise locally.",
    )
    _op_and_params(run)
    run.add_argument("--local", action="store_true", help="run in this process (no Temporal)")
    run.add_argument("--temporal", action="store_true", help="run on Temporal")
    shape = run.add_mutually_exclusive_group()
    shape.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="print one JSON document (the run result) on stdout; progress goes to stderr",
    )
    run.add_argument(
        "--progress-json", action="store_true", help="print one JSON event per line on stdout"
    )
    run.add_argument(
        "--no-worker",
        action="store_true",
        help="Temporal: do not start a worker in this process (use running `chant worker`s)",
    )
    run.add_argument(
        "--no-retry",
        action="store_true",
        help="run every step with a single attempt, whatever its profile (a quick dev loop)",
    )
    _params_file(run)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="run nothing: print the plan, as `chant plan` does (with --json, as JSON)",
    )
    shape.add_argument(
        "--mermaid", action="store_true", help="with --dry-run: the plan as a Mermaid flowchart"
    )
    shape.add_argument(
        "--dot", action="store_true", help="with --dry-run: the plan as a Graphviz graph"
    )
    run.add_argument(
        "--junit",
        metavar="FILE",
        help="write a JUnit XML report of the run to FILE (a test case per step)",
    )
    _temporal_flags(run)


def _temporal_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        metavar="P",
        help="the [temporal.profiles.P] of chant.toml to use (default: temporal.default_profile)",
    )
    _debug_flag(parser)


def _debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after the command too (``chant run x --debug``), as before it."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
