"""Running an Op from Python: the checks before a run, the run, and its exit code.

``chant run`` is an adapter over ``prepare`` and ``execute``; ``run`` is both for a
Python caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypedDict, Unpack

from chant.errors import (
    ExitCode,
    Problem,
    RunNotFinishedError,
    RuntimeUnavailableError,
    UsageError,
)

if TYPE_CHECKING:
    # At run time each is imported where it is used: ``chant status`` and the other
    # run-management commands need none of the project loading.
    from chant.config import TemporalProfile
    from chant.events import RunResult, Sink
    from chant.ir import JSON, Op
    from chant.project import Project

Say = Callable[[str], None]
"""Where a notice for the user goes (the CLI writes it on stderr)."""
PathLike = str | os.PathLike[str]
MODES = ("local", "temporal")


def _log(text: str) -> None:
    logging.getLogger("chant").warning(text)


def load_project(path: PathLike | None = None, *, strict: bool = True) -> Project:
    """The project at or above ``path`` (default: the current directory): its
    ``chant.toml``, every Op of its ``*.op.py`` files, validated, and its activities.

    ``ValidationError`` lists every problem, unless ``strict`` is False: then they are
    kept in ``Project.problems`` and only the broken Ops are refused (by ``op(name)``)."""
    from chant.project import load_project as load

    return load(Path(path) if path is not None else None, strict=strict)


class Ended(NamedTuple):
    """How a run ended. ``result`` is None when chant stopped following a Temporal run
    (``detached``: it goes on) or its workflow closed without a record (``status``:
    Temporal's, e.g. ``terminated``)."""

    result: RunResult | None
    detached: bool = False
    status: str | None = None


def exit_code(ended: Ended | RunResult) -> ExitCode:
    """What ``chant run`` exits with for a run that ended so (docs/cli.md)."""
    if not isinstance(ended, Ended):
        return ExitCode.of_run(ended.status, ok=ended.ok)
    if ended.result is not None:
        return exit_code(ended.result)
    return ExitCode.of_run("detached" if ended.detached else ended.status)


def _not_finished_error(op: str, ended: Ended) -> RunNotFinishedError:
    if ended.detached:
        message = f'detached from the run of "{op}": it goes on on Temporal'
    else:
        message = not_finished(op, ended.status)
    return RunNotFinishedError(
        message, code=exit_code(ended), hint=f"`chant status {op}` shows where it is"
    )


def not_finished(op: str, status: str | None) -> str:
    """What to say when the workflow of ``op`` closed (``status``) without a record."""
    return (
        f'the workflow of "{op}" ended {status} without finishing the Op (see `chant history {op}`)'
    )


class Prepared(NamedTuple):
    """A run that passed every check before anything runs (docs/cli.md, "Before a run").
    (Named tuples, not dataclasses: they cost ``chant run`` less to define.)"""

    project: Project
    op: Op
    mode: str
    secrets: Mapping[str, str]
    """The secrets' values, for a run whose steps run in this process."""
    profile: TemporalProfile | None = None
    no_worker: bool = False
    params: Mapping[str, JSON] = {}
    """The run's parameter values: checked, every parameter's (defaults filled in)."""


def prepare(
    op: Op | str,
    *,
    project: Project | PathLike | None = None,
    mode: str | None = None,
    no_retry: bool = False,
    env: Mapping[str, str] | None = None,
    profile: str | None = None,
    no_worker: bool = False,
    params: Mapping[str, JSON] | None = None,
    param_args: Sequence[str] = (),
    params_file: PathLike | None = None,
    say: Say = _log,
) -> Prepared:
    """Every check ``chant run`` makes before it starts ``op``, in the same order, with
    the same errors; the notices (problems elsewhere in the project, the mode chosen)
    go to ``say``. The parameter values come from ``params_file`` (a JSON object), then
    ``param_args`` (``KEY=VALUE`` texts, as ``chant run`` takes them), then ``params``
    (typed values), a later one overriding an earlier one (``chant.params.values_for``)."""
    if mode not in (None, *MODES):
        raise UsageError(f'mode must be "local", "temporal" or None, not {mode!r}')
    loaded, resolved, values = checked_op(
        op, project, "running", params, param_args, params_file, say
    )
    name = resolved.name
    from chant.config import choose_mode

    chosen, notice = choose_mode(
        local=mode == "local", temporal=mode == "temporal", config=loaded.config, op_name=name
    )
    if no_retry:
        from chant.plan import single_attempt

        resolved = single_attempt(resolved)
    environ = os.environ if env is None else env
    if chosen == "temporal":
        prepared = _prepare_temporal(loaded, resolved, profile, no_worker, environ, notice, say)
        return prepared._replace(params=values)
    from chant.plan import check_local
    from chant.secrets import secret_values

    check_local(resolved)
    secrets = secret_values(resolved, environ)
    if notice:
        say(notice)
    if resolved.schedule:
        say(
            f'chant: op "{name}" has schedule "{resolved.schedule}", which applies only on '
            "Temporal — running it once now"
        )
    return Prepared(loaded, resolved, "local", secrets, params=values)


def checked_op(
    op: Op | str,
    project: Project | PathLike | None,
    doing: str,
    params: Mapping[str, JSON] | None,
    param_args: Sequence[str],
    params_file: PathLike | None,
    say: Say,
) -> tuple[Project, Op, dict[str, JSON]]:
    """The checks of ``op`` before it is run or planned (``doing``: "running",
    "planning"): its project loads, it exists and is valid, the values fit its
    parameters. Only this Op must be valid: problems elsewhere in the project are said
    as warnings. Returns the project, the Op resolved and the complete values."""
    name = op if isinstance(op, str) else op.name
    loaded = _loaded(project)
    others = loaded.problems_besides(name)
    warn(others, say)
    resolved = loaded.op(op) if isinstance(op, str) else loaded.resolve(op)
    if others:
        say(
            f"chant: warning: {count(others)} elsewhere in the project (above); {doing} "
            f'"{name}" anyway (`chant build` checks every Op)'
        )
    return loaded, resolved, _param_values(resolved, params, param_args, params_file)


def _param_values(
    op: Op,
    typed: Mapping[str, JSON] | None,
    args: Sequence[str],
    file: PathLike | None,
) -> dict[str, JSON]:
    """The run's parameter values, checked (``ParamError`` names every problem)."""
    if not (op.params or typed or args or file is not None):
        return {}
    from chant.params import ParamError, parse_file, values_for

    found = None
    name = os.fspath(file) if file is not None else ""
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise ParamError(op, [f"params file {name}: cannot be read ({why})"]) from None
        except UnicodeDecodeError:
            raise ParamError(op, [f"params file {name}: cannot be read (not UTF-8)"]) from None
        found = parse_file(op, text, name)
    return values_for(op, args, file=found, file_name=name, typed=typed)


def _prepare_temporal(
    project: Project,
    op: Op,
    profile: str | None,
    no_worker: bool,
    environ: Mapping[str, str],
    notice: str | None,
    say: Say,
) -> Prepared:
    from chant.secrets import secret_values
    from chant.temporal.connect import INSTALL_TEMPORAL, pick_profile

    picked = pick_profile(project.config, profile)
    # The worker in this process resolves secrets; it must have them all.
    secrets = {} if no_worker else secret_values(op, environ)
    try:
        import chant.temporal.runner  # noqa: F401
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"Temporal mode needs the temporal extra ({exc.name} is not installed)",
            hint=f"{INSTALL_TEMPORAL}, or run locally with --local",
        ) from exc
    if notice:
        say(notice)
    return Prepared(project, op, "temporal", secrets, picked, no_worker)


def warn(problems: tuple[Problem, ...], say: Say) -> None:
    """Say each problem as ``chant: warning: file:line: …`` (escaped like an error), for
    problems that do not stop the command."""
    from chant.render import terminal_safe

    for problem in problems:
        say("chant: warning: " + "\n".join(terminal_safe(ln) for ln in str(problem).split("\n")))


def count(problems: tuple[Problem, ...]) -> str:
    """``1 problem`` / ``3 problems``."""
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


def _loaded(project: Project | PathLike | None) -> Project:
    """``project``, loaded (non-strict, as ``chant run`` loads it) from the folder given
    (None: the current directory) unless it is loaded already."""
    if project is None or isinstance(project, str | os.PathLike):
        return load_project(project, strict=False)
    return project


@contextlib.contextmanager
def _at(root: Path) -> Iterator[None]:
    """Run the body in the project root. Steps run from there, whatever folder chant
    was started in: a step's command, and the activities that read ``chant.toml``,
    take the current directory as the project's. The caller's is restored after."""
    before = os.getcwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(before)


async def execute(prepared: Prepared, *, sinks: list[Sink], say: Say = _log) -> Ended:
    """Run what ``prepare`` checked, sending each event to ``sinks``. Ctrl-C (SIGINT,
    SIGTERM, SIGHUP, SIGQUIT, when called on the main thread) stops it gracefully."""
    config = prepared.project.config
    with _at(config.root):
        if prepared.mode == "local":
            return Ended(await run_local(prepared, sinks=sinks, say=say))
        from chant.temporal.runner import run_temporal

        assert prepared.profile is not None
        followed = await run_temporal(
            prepared.op,
            prepared.project.registry,
            prepared.profile,
            root=config.root,
            project=config.project_id,
            sinks=sinks,
            no_worker=prepared.no_worker,
            params=prepared.params,
            say=say,
            default_profile=config.temporal.default_profile if config.temporal else None,
        )
        return Ended(followed.result, followed.detached, followed.status)


async def run_local(prepared: Prepared, *, sinks: list[Sink], say: Say) -> RunResult:
    """Run the Op in-process; a stop signal stops its running steps, then on_failure
    runs, and a second one skips on_failure."""
    from chant.activities import guard, reap
    from chant.activities.stopping import on_stop
    from chant.local.executor import LocalExecutor

    op = prepared.op
    executor = LocalExecutor(
        prepared.project.registry,
        sinks=sinks,
        secrets=dict(prepared.secrets),
        params=prepared.params,
    )

    def on_signal() -> None:
        first = executor.interrupts == 0
        skipping = executor.interrupt()
        if skipping and first:  # a step had failed: on_failure was already running
            say("chant: interrupted during on_failure — stopping now, skipping the rest of it")
        elif skipping:
            say("chant: interrupted again — stopping now, skipping on_failure")
        elif first:
            then = ", then running on_failure (Ctrl-C again to skip it)" if op.on_failure else ""
            say(f"chant: interrupted — stopping running steps{then}")

    guard.enable()  # stops the steps should chant be killed outright
    try:
        try:
            with on_stop(on_signal):
                return await executor.run(op)
        finally:
            await reap.sweep_leftovers(executor.kill_grace)
    finally:
        guard.disable()


class RunOptions(TypedDict, total=False):
    """The options of ``run`` and ``run_async`` besides ``op`` and ``on_event``: those
    of ``prepare``, documented at ``run``."""

    project: Project | PathLike | None
    mode: str | None
    no_retry: bool
    env: Mapping[str, str] | None
    profile: str | None
    no_worker: bool
    params: Mapping[str, JSON] | None
    param_args: Sequence[str]
    params_file: PathLike | None
    say: Say


async def run_async(
    op: Op | str, *, on_event: Sink | None = None, **options: Unpack[RunOptions]
) -> RunResult:
    """``run``, for a caller already in an event loop."""
    prepared = prepare(op, **options)
    say = options.get("say", _log)
    ended = await execute(prepared, sinks=[on_event] if on_event else [], say=say)
    if ended.result is None:
        raise _not_finished_error(prepared.op.name, ended)
    return ended.result


def run(op: Op | str, *, on_event: Sink | None = None, **options: Unpack[RunOptions]) -> RunResult:
    """Run ``op`` (an Op, or the name of one in the project) to its end and return its
    record, as ``chant run NAME --json`` prints it.

    ``project``: a loaded ``Project``, or the folder to find one at or above (default:
    the current directory). ``mode``: ``"local"``, ``"temporal"``, or None for the
    choice ``chant run`` makes (Temporal when ``chant.toml`` has a ``[temporal]``
    table). ``no_retry``: one attempt per step. ``env``: where ``secret("NAME")``
    values are read (default ``os.environ``). ``on_event``: called with each
    ``chant.events.Event`` as the run goes. ``profile``, ``no_worker``: as
    ``--profile`` and ``--no-worker`` on Temporal. ``params``: the Op's parameter values
    by name (``{"version": "1.5", "replicas": 3}``), typed as the Op declares them;
    ``params_file``, ``param_args``: values from a JSON file and ``KEY=VALUE`` texts,
    as ``chant run`` takes them (``params`` overrides both). ``say``: where notices go
    (default: the ``chant`` logger).

    A failed Op is a result with ``ok`` False (``exit_code(result)`` is 1); invalid
    input raises the ``ChantError`` the CLI reports (``OpNotFoundError``,
    ``ValidationError``, ``chant.params.ParamError``, ``SecretNotSetError``,
    ``RuntimeUnavailableError``, …). Steps
    run from the project root; the caller's current directory is the same after."""
    return asyncio.run(run_async(op, on_event=on_event, **options))
