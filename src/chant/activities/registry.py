"""The activity registry: the one boundary through which Ops touch the world.

An activity is a function taking keyword arguments and returning JSON-able data. It
may also take a ``ctx`` parameter (an ``ActivityContext``) to heartbeat, log lines and
notice cancellation. Executors call activities only through a ``Registry``; tests swap
in a registry of fakes.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from chant.activities.calling import base_error, exit_error, in_daemon_thread, os_exit_raises
from chant.errors import ActivityError, ChantError, ErrorType
from chant.events import Masker
from chant.ir import JSON
from chant.profiles import DEFAULT_PROFILE

if TYPE_CHECKING:
    from chant.config import Config
    from chant.planned import Timing
    from chant.shapes import Shape


class ProjectContext(NamedTuple):
    """The project a step runs for: what an activity needs of it, handed over by the
    executor instead of read from the current directory (a long-lived worker serves
    its project whatever its working directory). A named tuple: cheaper to define at
    start-up than a frozen dataclass."""

    config: Config
    """The project's ``chant.toml`` as loaded with the project (environments, profiles)."""

    @property
    def root(self) -> Path:
        """The project root: the folder of ``chant.toml``, where steps run."""
        return self.config.root


class ActivityContext:
    """What a running attempt may use: heartbeats, log lines, cancellation."""

    def __init__(
        self,
        *,
        step_id: str,
        attempt: int,
        output: Callable[[str, str], None],
        output_lines: Callable[[list[str], str], None] | None = None,
        heartbeat_interval: float | None = None,
        kill_grace: float = 2.0,
        masker: Masker | None = None,
        project: ProjectContext | None = None,
    ) -> None:
        self.step_id = step_id
        self.attempt = attempt
        self.heartbeat_interval = heartbeat_interval
        """How often a long-running activity should heartbeat; None when not required."""
        self.kill_grace = kill_grace
        """Seconds between SIGTERM and SIGKILL when a command's group is stopped."""
        self.masker = masker or Masker()
        """Masks every secret the Op declares; streams apply it before they keep or cut
        text, so no tail or split line holds part of a secret."""
        self.project = project
        """The project the step runs for; None for a context built by hand (then the
        activities that need the project find it from the current directory)."""
        self.cancelled = asyncio.Event()
        """Set when the attempt is being stopped (timeout, cancel, interrupt)."""
        self.last_heartbeat = time.monotonic()
        self.heartbeat_details: JSON = None
        self._output = output
        self._output_lines = output_lines

    def heartbeat(self, details: JSON = None) -> None:
        """Tell the executor this attempt is alive (optionally with progress ``details``)."""
        self.last_heartbeat = time.monotonic()
        if details is not None:
            self.heartbeat_details = details

    def output(self, line: str, stream: str = "stdout") -> None:
        """Emit one line of the step's output as a ``step_output`` event."""
        self._output(line, stream)

    def output_lines(self, lines: list[str], stream: str = "stdout") -> None:
        """Emit each of ``lines`` as ``output`` does, together (e.g. one read's lines)."""
        if self._output_lines is not None:
            self._output_lines(lines, stream)
            return
        for line in lines:
            self._output(line, stream)

    def log(self, line: str) -> None:
        """Emit a log line of the activity's own as a ``step_output`` event."""
        self._output(line, "log")


@dataclass(frozen=True)
class ActivityDef:
    """A registered activity: a function, or a ``"module:function"`` imported on first use
    (so built-ins cost nothing at start-up until an Op uses them)."""

    name: str
    fn: Callable[..., Any] | None = None
    target: str | None = None
    default_profile: str = DEFAULT_PROFILE
    source: str = "chant (built-in)"
    broken: str | None = None
    """Why an installed package's entry point could not be loaded (``"ImportError: …"``),
    or None. A broken activity is still listed; using it raises ``ActivityImportError``."""

    @functools.cached_property
    def function(self) -> Callable[..., Any]:
        if self.broken is not None:
            raise ActivityError(
                f'activity "{self.name}" cannot be imported: {self.source} failed with '
                f"{self.broken}; fix or reinstall that package, or uninstall it",
                type=ErrorType.ACTIVITY_IMPORT,
                non_retryable=True,
            )
        if self.fn is not None:
            return self.fn
        assert self.target, f"activity {self.name} has neither fn nor target"
        module, _, attr = self.target.partition(":")
        fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
        return fn

    @functools.cached_property
    def takes_context(self) -> bool:
        code = getattr(self.function, "__code__", None)
        params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount] if code else ()
        return "ctx" in params

    @functools.cached_property
    def _call_signature(self) -> inspect.Signature:
        """The signature a step's arguments bind to (without ``ctx``), computed once:
        a project checks every step against it."""
        signature = inspect.signature(self.function)
        if "ctx" in signature.parameters:
            signature = signature.replace(
                parameters=[p for n, p in signature.parameters.items() if n != "ctx"]
            )
        return signature

    @functools.cached_property
    def result(self) -> Shape:
        """The shape of what the activity returns (``chant.shapes``): a built-in's as
        declared in ``BUILTIN_RESULTS``, a function's from its return annotation,
        ``"any"`` for an activity that cannot be loaded. The build checks each
        ``out(step, path)`` against it."""
        from chant.shapes import ANY, shape_of_function

        if self.fn is None:  # a built-in (a target), or a broken entry point
            from chant.builders import BUILTIN_RESULTS

            found: Shape = BUILTIN_RESULTS.get(self.name, ANY) if self.broken is None else ANY
            return found
        return shape_of_function(self.fn)

    def check_args(self, args: Mapping[str, object]) -> str | None:
        """Why ``args`` cannot call this activity (missing or unknown), or None."""
        try:
            self._call_signature.bind(**args)
        except TypeError as exc:
            return str(exc)
        return None

    def signature(self) -> str:
        import inspect

        signature = inspect.signature(self.function)

        def show(p: inspect.Parameter) -> str:
            # Annotations stay as written (they are strings under postponed evaluation).
            text = p.name
            if p.annotation is not p.empty:
                note = p.annotation
                text += f": {note if isinstance(note, str) else inspect.formatannotation(note)}"
            if p.default is not p.empty:
                text += f" = {p.default!r}"
            return text

        params = [show(p) for n, p in signature.parameters.items() if n != "ctx"]
        return f"{self.name}({', '.join(params)})"

    async def invoke(self, args: Mapping[str, JSON], ctx: ActivityContext) -> object:
        """Run the activity once with ``args``; plain functions run in a daemon thread.

        An activity that tries to end the program (``sys.exit``, ``KeyboardInterrupt``,
        ``GeneratorExit``) fails the step with ``ActivityExitError`` instead. Any other
        ``BaseException`` it raises (``CancelledError`` it raised itself, not a cancel of
        the attempt; a ``BaseException`` subclass of its own; ``StopIteration``) fails the
        attempt like an exception, with its class name as the error type."""
        fn = self.function
        kwargs = {**args, "ctx": ctx} if self.takes_context else dict(args)
        try:
            if self.fn is None:  # chant's own, imported from a "module:function" target
                if asyncio.iscoroutinefunction(fn):
                    return await fn(**kwargs)
                return await in_daemon_thread(fn, kwargs, f"chant-activity-{self.name}")
            with os_exit_raises():
                if asyncio.iscoroutinefunction(fn):
                    return await fn(**kwargs)
                return await in_daemon_thread(fn, kwargs, f"chant-activity-{self.name}")
        except (SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
            raise exit_error(self.name, exc) from None
        except Exception:
            raise
        except BaseException as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                raise  # the attempt itself is being cancelled (timeout, fail_fast, Ctrl-C)
            raise base_error(exc) from None


async def run_attempt(
    defn: ActivityDef, args: Mapping[str, JSON], ctx: ActivityContext, timing: Timing
) -> JSON:
    """One attempt of ``defn``, bounded by ``timing``'s start-to-close timeout and, when it
    has one, its heartbeat timeout. Both executors call this, so an attempt that runs out
    of time is stopped the same way locally and on a Temporal worker: ``ctx.cancelled``
    is set and the activity's task cancelled (a command's process group is killed), then
    ``ActivityTimeoutError`` or ``HeartbeatTimeoutError`` is raised."""
    from chant.errors import ActivityTimeoutError, HeartbeatTimeoutError

    profile = timing.declared
    timeout, beat = timing.timeout, timing.heartbeat_timeout
    task = asyncio.ensure_future(defn.invoke(args, ctx))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            wake = deadline if beat is None else min(deadline, ctx.last_heartbeat + beat)
            done, _ = await asyncio.wait({task}, timeout=max(0.0, wake - loop.time()))
            if done:
                return _json_result(task.result(), defn, ctx)
            now = loop.time()
            if now >= deadline:
                raise ActivityTimeoutError(
                    f"attempt {ctx.attempt} timed out after {profile.timeout} "
                    f"(start-to-close timeout of profile {profile.name or 'inline'})"
                )
            if beat is not None and now >= ctx.last_heartbeat + beat:
                raise HeartbeatTimeoutError(
                    f"attempt {ctx.attempt} sent no heartbeat for {profile.heartbeat_timeout}"
                )
    finally:
        if not task.done():
            ctx.cancelled.set()
            task.cancel()
            await asyncio.shield(asyncio.wait({task}))


def _json_result(value: object, defn: ActivityDef, ctx: ActivityContext) -> JSON:
    """A result is JSON in both modes (Temporal stores it so): ``chant.events.to_json``
    converts bytes, sets, tuples and paths, and anything else fails the step at once."""
    from chant.errors import ResultNotJSONError
    from chant.events import NotJSONError, to_json

    try:
        result: JSON = to_json(value)
    except NotJSONError as exc:
        where = f"result{exc.where}" if exc.where else "result"
        raise ResultNotJSONError(
            ctx.masker.text(
                f'step {ctx.step_id}: activity "{defn.name}" returned a result that is not '
                f"JSON: its {where} is {exc.why}; return str, int, float, bool, None, lists "
                "and dicts with str keys (bytes, sets, tuples and paths are converted)"
            )
        ) from None
    return result


class Registry:
    """Activities by name. Two with one name is an error naming both sources.

    ``lazy`` is called once, the first time a name is missing (or every name is wanted),
    to add activities that are costly to find, such as the ``chant.activities``
    entry points of installed packages.
    """

    def __init__(
        self,
        defs: Iterable[ActivityDef] = (),
        *,
        lazy: Callable[[], Iterable[ActivityDef]] | None = None,
        project: ProjectContext | None = None,
    ) -> None:
        self._defs: dict[str, ActivityDef] = {}
        self.project = project
        """The project whose steps this registry runs, handed to each attempt's context
        by both executors; None when there is no project (a registry of fakes)."""
        self._lazy = lazy
        self.shadowed: list[ActivityDef] = []
        """Installed activities hidden by a project activity of the same name."""
        for d in defs:
            self.add(d)

    def _load_lazy(self) -> None:
        # The project's own activities (built-ins, op files, [project] activities) win
        # over an installed package's of the same name, whichever is looked up first.
        if self._lazy is not None:
            lazy, self._lazy = self._lazy, None
            for d in lazy():
                if d.name not in self._defs:
                    self._defs[d.name] = d
                else:
                    self.shadowed.append(d)

    def add(self, d: ActivityDef) -> None:
        old = self._defs.get(d.name)
        if old is not None and (old.fn is not d.fn or old.target != d.target):
            from chant.names import where

            raise ChantError(
                f'two activities are named "{d.name}": {where(old.source)} and {where(d.source)}',
                hint='rename one of them, e.g. @activity("another-name")',
            )
        self._defs[d.name] = d

    def get(self, name: str) -> ActivityDef | None:
        if name not in self._defs:
            self._load_lazy()
        return self._defs.get(name)

    def names(self) -> list[str]:
        self._load_lazy()
        return sorted(self._defs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def defaults(self) -> Mapping[str, str]:
        """Each activity's default profile name, looked up (lazily) by name."""
        return _Defaults(self)


class _Defaults(Mapping[str, str]):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __getitem__(self, name: str) -> str:
        d = self.registry.get(name)
        if d is None:
            raise KeyError(name)
        return d.default_profile

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry.names())

    def __len__(self) -> int:
        return len(self.registry.names())


def _builtin(name: str, module: str, profile: str = DEFAULT_PROFILE) -> ActivityDef:
    return ActivityDef(
        name=name, target=f"chant.activities.{module}:{name}", default_profile=profile
    )


BUILTINS = (
    _builtin("shell", "shell"),
    _builtin("build", "project"),
    _builtin("teardown", "project", "long_infra"),
    _builtin("kubectl_apply", "k8s", "long_infra"),
    _builtin("helm_install", "k8s", "long_infra"),
    _builtin("wait_for_rollout", "k8s", "k8s_wait"),
    _builtin("http_check", "http"),
    _builtin("state_snapshot", "state"),
    _builtin("state_diff", "state"),
)


def default_registry(
    declared: Iterable[ActivityDef] = (), *, project: ProjectContext | None = None
) -> Registry:
    """The built-ins, the ``declared`` activities (a project's, as discovery collected
    them) and (looked up only when needed) the ``chant.activities`` entry points."""
    from chant.activities.sources import entry_point_activities

    reg = Registry(BUILTINS, lazy=entry_point_activities, project=project)
    for d in declared:
        reg.add(d)
    return reg
