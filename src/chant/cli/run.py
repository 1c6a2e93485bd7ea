"""``chant run NAME``: run an Op, locally or on Temporal.

An adapter over ``chant.api``: it checks the flags, asks ``api.prepare`` for every
check before a run, renders the events and exits with ``api.exit_code``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TextIO

from chant import api
from chant.config import check_mode_flags
from chant.errors import Problem, UsageError
from chant.events import RunResult, Sink
from chant.render import LineWriter

count = api.count


def _human(stream: TextIO) -> Sink:
    from chant.render.human import HumanRenderer

    return HumanRenderer(stream)  # colour per NO_COLOR, FORCE_COLOR, TERM and the stream


def _say(text: str) -> None:
    # After SIGHUP the terminal may be gone (EIO); the run goes on without the notice.
    human = sys.modules.get("chant.render.human")  # its live line is cleared meanwhile
    with contextlib.suppress(OSError), human.paused() if human else contextlib.nullcontext():
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def warn(problems: tuple[Problem, ...]) -> None:
    """Print each problem on stderr as ``chant: warning: file:line: …`` (escaped like
    an error), for problems that do not stop the command."""
    api.warn(problems, _say)


def execute(args: argparse.Namespace) -> int:
    """Run the Op called NAME (no build needed: it is loaded from its *.op.py) with the
    parameter values of ``--params-file`` and the ``KEY=VALUE``s after NAME."""
    if args.as_json and args.progress_json:
        raise UsageError(
            "--json and --progress-json cannot be used together",
            hint="--json prints the result; --progress-json streams events",
        )
    if args.dry_run:
        return _dry_run(args)
    # Before loading anything: a broken op file must not hide a usage error.
    check_mode_flags(local=args.local, temporal=args.temporal)
    prepared = api.prepare(
        args.name,
        mode="local" if args.local else "temporal" if args.temporal else None,
        no_retry=args.no_retry,
        profile=args.profile,
        no_worker=args.no_worker,
        param_args=args.params,
        params_file=args.params_file,
        say=_say,
    )
    sinks = _sinks(as_json=args.as_json, progress_json=args.progress_json)
    if prepared.mode == "temporal":
        from chant.temporal.connect import route_sdk_logs

        route_sdk_logs(prepared.project.config.root, debug=getattr(args, "debug", False))
    ended = asyncio.run(api.execute(prepared, sinks=sinks, say=_say))
    if ended.result is not None:
        _print(ended.result, as_json=args.as_json)
    elif not ended.detached:
        _say(f"chant: {api.not_finished(prepared.op.name, ended.status)}")
    return api.exit_code(ended)


def _dry_run(args: argparse.Namespace) -> int:
    """``chant run NAME --dry-run``: ``chant plan NAME`` with the same values, byte for
    byte; the flags that only make sense for a run that runs are refused."""
    for flag, given in (
        ("--progress-json", args.progress_json),
        ("--junit", args.junit is not None),
        ("--no-worker", args.no_worker),
    ):
        if given:
            raise UsageError(
                f"--dry-run runs nothing, so {flag} has nothing to do",
                hint=f"drop {flag}, or drop --dry-run to run the Op",
            )
    check_mode_flags(local=args.local, temporal=args.temporal)
    from chant.cli import plan

    args.mermaid = args.dot = False
    return plan.execute(args)


def _sinks(*, as_json: bool, progress_json: bool) -> list[Sink]:
    if progress_json:
        from chant.render.jsonl import JsonLinesRenderer

        return [JsonLinesRenderer(sys.stdout)]
    return [_human(sys.stderr if as_json else sys.stdout)]


def _print(result: RunResult, *, as_json: bool) -> None:
    if as_json:
        import json

        # outcomes: name → value, as `chant status --json` has them (masked like steps).
        doc = result.to_dict() | {"outcomes": result.outcomes}
        LineWriter(sys.stdout)(json.dumps(doc, indent=2, default=str))
