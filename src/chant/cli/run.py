"""``chant run NAME``: run an Op, locally or on Temporal.

An adapter over ``chant.api``: it checks the flags, asks ``api.prepare`` for every
check before a run, renders the events and exits with ``api.exit_code``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import TYPE_CHECKING, TextIO

from chant import api
from chant.config import check_mode_flags
from chant.errors import Problem, UsageError
from chant.events import RunResult, Sink
from chant.render import LineWriter, terminal_safe

if TYPE_CHECKING:
    from chant.render.summary import RunStory

count = api.count

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
"""The environment variable naming the file ``chant run`` appends its Markdown summary to
(GitHub Actions sets it for each step of a job)."""


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
    for flag, given in (("--mermaid", args.mermaid), ("--dot", args.dot)):
        if given:
            raise UsageError(
                f"{flag} prints a plan, so it needs --dry-run",
                hint=f"add --dry-run, or run `chant plan {args.name} {flag}`",
            )
    # Before loading anything: a broken op file must not hide a usage error.
    check_mode_flags(local=args.local, temporal=args.temporal)
    # The run goes on in the project root; the file is where chant was started.
    junit = _junit_file(args.junit) if args.junit is not None else None
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
    summary = os.environ.get(STEP_SUMMARY) or None
    story = _story(prepared, junit=junit, summary=summary)
    if story is not None:
        sinks.append(story)
    if prepared.mode == "temporal":
        from chant.temporal.connect import route_sdk_logs

        route_sdk_logs(prepared.project.config.root, debug=getattr(args, "debug", False))
    ended: api.Ended | None = None
    try:
        ended = asyncio.run(api.execute(prepared, sinks=sinks, say=_say))
    finally:
        if story is not None and (ended is not None or story.started):
            _report(story, ended, junit=args.junit, summary=summary)
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

    return plan.execute(args)


def _junit_file(given: str) -> str:
    """The absolute path of ``--junit FILE``; a ``UsageError`` (exit 2, before anything
    runs) when it plainly cannot be written: a directory, in a directory that does not
    exist, or not writable."""
    path = os.path.abspath(given)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        why = "it is a directory"
    elif not os.path.isdir(folder):
        why = f"no such directory: {folder}"
    elif not os.access(path if os.path.exists(path) else folder, os.W_OK):
        why = "permission denied"
    else:
        return path
    raise UsageError(
        f"--junit {given}: cannot write the report there ({why})",
        hint="give a file in a directory that exists and can be written",
    )


def _story(prepared: api.Prepared, *, junit: str | None, summary: str | None) -> RunStory | None:
    """The sink that gathers the run's events for ``--junit`` and the step summary, or
    None without either (neither module is then loaded)."""
    if junit is None and summary is None:
        return None
    from chant.events import Masker

    mask = Masker(prepared.secrets.values())
    op = prepared.op
    planned = [
        (mask(phase.name), mask(str(step.id)), compensation)
        for phases, compensation in ((op.phases, False), (op.on_failure, True))
        for phase in phases
        for step in phase.steps
    ]
    if junit is None:
        from chant.render.summary import RunStory

        return RunStory(op.name, mode=prepared.mode, planned=planned)
    from chant.render.junit import JUnitReport

    return JUnitReport(junit, op.name, mode=prepared.mode, planned=planned)


def _report(
    story: RunStory, ended: api.Ended | None, *, junit: str | None, summary: str | None
) -> None:
    """Write the JUnit report and append the step summary, with what the events told;
    a file that cannot be written is a warning (the exit code stays the run's)."""
    if ended is None:
        story.close("chant stopped")
    elif ended.detached:
        story.close("chant stopped following the run (it goes on on Temporal)")
    elif ended.status is not None:
        story.close(f"the workflow ended {ended.status} without finishing the Op")
    else:
        story.close("chant stopped")
    if junit is not None:
        from chant.render.junit import JUnitReport

        assert isinstance(story, JUnitReport)
        try:
            story.write()
        except OSError as exc:
            _say(f"chant: warning: --junit {terminal_safe(junit)}: cannot write it ({_why(exc)})")
    if summary is not None:
        from chant.render.summary import append

        try:
            append(story, summary)
        except OSError as exc:
            where = terminal_safe(summary)
            _say(f"chant: warning: {STEP_SUMMARY}={where}: cannot append the summary ({_why(exc)})")


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


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
