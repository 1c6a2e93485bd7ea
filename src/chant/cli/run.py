"""``chant run NAME``: run an Op, locally or on Temporal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from typing import TextIO

from chant.config import check_mode_flags, choose_mode
from chant.errors import Problem, RuntimeUnavailableError
from chant.events import RunResult, Sink
from chant.ir import Op
from chant.plan import check_local, single_attempt
from chant.project import Project, load_project
from chant.render import LineWriter
from chant.secrets import secret_values

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


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
    from chant.render import terminal_safe

    for problem in problems:
        _say("chant: warning: " + "\n".join(terminal_safe(ln) for ln in str(problem).split("\n")))


def count(problems: tuple[Problem, ...]) -> str:
    """``1 problem`` / ``3 problems``."""
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


async def run_local(
    op: Op, project_registry: object, *, sinks: list[Sink], secrets: dict[str, str]
) -> RunResult:
    """Run ``op`` in-process, turning SIGINT/SIGTERM/SIGHUP/SIGQUIT into a graceful stop."""
    from chant.activities.guard import STOP_SIGNALS
    from chant.activities.registry import Registry
    from chant.local.executor import LocalExecutor

    assert isinstance(project_registry, Registry)
    executor = LocalExecutor(project_registry, sinks=sinks, secrets=secrets)
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        first = executor.interrupts == 0
        skipping = executor.interrupt()
        if skipping and first:  # a step had failed: on_failure was already running
            _say("chant: interrupted during on_failure — stopping now, skipping the rest of it")
        elif skipping:
            _say("chant: interrupted again — stopping now, skipping on_failure")
        elif first:
            then = ", then running on_failure (Ctrl-C again to skip it)" if op.on_failure else ""
            _say(f"chant: interrupted — stopping running steps{then}")

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    try:
        return await executor.run(op)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        from chant.activities import reap

        await reap.sweep_leftovers(executor.kill_grace)


def execute(args: argparse.Namespace) -> int:
    """Run the Op called NAME (no build needed: it is loaded from its *.op.py)."""
    from chant.errors import UsageError

    name, as_json, progress_json = args.name, args.as_json, args.progress_json
    if as_json and progress_json:
        raise UsageError(
            "--json and --progress-json cannot be used together",
            hint="--json prints the result; --progress-json streams events",
        )
    # Before loading anything: a broken op file must not hide a usage error.
    check_mode_flags(local=args.local, temporal=args.temporal)
    # Only NAME must be valid: problems elsewhere in the project are warnings.
    project = load_project(strict=False)
    others = project.problems_besides(name)
    warn(others)
    op = project.op(name)
    if others:
        _say(
            f"chant: warning: {count(others)} elsewhere in the project (above); running "
            f'"{name}" anyway (`chant build` checks every Op)'
        )
    mode, notice = choose_mode(
        local=args.local, temporal=args.temporal, config=project.config, op_name=name
    )
    if args.no_retry:
        op = single_attempt(op)
    if mode == "temporal":
        return _run_temporal(args, project, op, notice)
    check_local(op)
    secrets = secret_values(op, os.environ)
    if notice:
        _say(notice)
    if op.schedule:
        _say(
            f'chant: op "{name}" has schedule "{op.schedule}", which applies only on Temporal '
            "— running it once now"
        )
    sinks = _sinks(as_json=as_json, progress_json=progress_json)
    # Steps run from the project root, whatever folder chant was started in.
    os.chdir(project.config.root)
    from chant.activities import guard

    guard.enable()  # stops the steps should chant be killed outright
    try:
        result = asyncio.run(run_local(op, project.registry, sinks=sinks, secrets=secrets))
    finally:
        guard.disable()
    return _finish(result, as_json=as_json)


def _sinks(*, as_json: bool, progress_json: bool) -> list[Sink]:
    if progress_json:
        from chant.render.jsonl import JsonLinesRenderer

        return [JsonLinesRenderer(sys.stdout)]
    return [_human(sys.stderr if as_json else sys.stdout)]


def _finish(result: RunResult, *, as_json: bool) -> int:
    if as_json:
        # outcomes: name → value, as `chant status --json` has them (masked like steps).
        doc = result.to_dict() | {"outcomes": result.outcomes}
        LineWriter(sys.stdout)(json.dumps(doc, indent=2, default=str))
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


def _run_temporal(args: argparse.Namespace, project: Project, op: Op, notice: str | None) -> int:
    """Run ``op`` on Temporal: the same checks, events and exit codes as a local run."""
    from chant.temporal.connect import INSTALL_TEMPORAL, pick_profile, route_sdk_logs

    profile = pick_profile(project.config, args.profile)
    if not args.no_worker:
        # The worker in this process resolves secrets; it must have them all.
        secret_values(op, os.environ)
    try:
        from chant.temporal.runner import run_temporal
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"Temporal mode needs the temporal extra ({exc.name} is not installed)",
            hint=f"{INSTALL_TEMPORAL}, or run locally with --local",
        ) from exc
    if notice:
        _say(notice)
    sinks = _sinks(as_json=args.as_json, progress_json=args.progress_json)
    os.chdir(project.config.root)
    route_sdk_logs(project.config.root, debug=getattr(args, "debug", False))
    followed = asyncio.run(
        run_temporal(
            op,
            project.registry,
            profile,
            root=project.config.root,
            project=project.config.project_id,
            sinks=sinks,
            no_worker=args.no_worker,
            say=_say,
            default_profile=(
                project.config.temporal.default_profile if project.config.temporal else None
            ),
        )
    )
    if followed.detached:
        return EXIT_INTERRUPTED
    if followed.result is None:
        _say(
            f'chant: the workflow of "{op.name}" ended {followed.status} without finishing '
            f"the Op (see `chant history {op.name}`)"
        )
        return EXIT_INTERRUPTED if followed.status in ("terminated", "canceled") else EXIT_FAILED
    return _finish(followed.result, as_json=args.as_json)
