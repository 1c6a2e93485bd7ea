"""The activity registry: the one boundary through which Ops touch the world.

An activity is a function taking keyword arguments and returning JSON-able data. It
may also take a ``ctx`` parameter (an ``ActivityContext``) to heartbeat, log lines and
notice cancellation. Executors call activities only through a ``Registry``; tests swap
in a registry of fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from chant.errors import ActivityError, ChantError
from chant.events import Masker
from chant.ir import JSON, Profile
from chant.profiles import DEFAULT_PROFILE


class ActivityContext:
    """What a running attempt may use: heartbeats, log lines, cancellation."""

    def __init__(
        self,
        *,
        step_id: str,
        attempt: int,
        output: Callable[[str, str], None],
        heartbeat_interval: float | None = None,
        kill_grace: float = 2.0,
        masker: Masker | None = None,
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
        self.cancelled = asyncio.Event()
        """Set when the attempt is being stopped (timeout, cancel, interrupt)."""
        self.last_heartbeat = time.monotonic()
        self.heartbeat_details: JSON = None
        self._output = output

    def heartbeat(self, details: JSON = None) -> None:
        """Tell the executor this attempt is alive (optionally with progress ``details``)."""
        self.last_heartbeat = time.monotonic()
        if details is not None:
            self.heartbeat_details = details

    def output(self, line: str, stream: str = "stdout") -> None:
        """Emit one line of the step's output as a ``step_output`` event."""
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
                type="ActivityImportError",
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

    def check_args(self, args: Mapping[str, JSON]) -> str | None:
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

    async def invoke(self, args: Mapping[str, JSON], ctx: ActivityContext) -> JSON:
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
                return await _in_daemon_thread(fn, kwargs, f"chant-activity-{self.name}")
            with _os_exit_raises():
                if asyncio.iscoroutinefunction(fn):
                    return await fn(**kwargs)
                return await _in_daemon_thread(fn, kwargs, f"chant-activity-{self.name}")
        except (SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
            raise _exit_error(self.name, exc) from None
        except Exception:
            raise
        except BaseException as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                raise  # the attempt itself is being cancelled (timeout, fail_fast, Ctrl-C)
            raise _base_error(exc) from None


def _base_error(exc: BaseException) -> ChantError:
    """A failure of the attempt for a ``BaseException`` that is not an ``Exception``,
    which the walk and Temporal would otherwise take for a cancel or let end chant."""
    from chant.errors import ActivityError
    from chant.walk import error_of

    error = error_of(exc)
    return ActivityError(error["message"], type=error["type"])


class _OsExit(SystemExit):
    """What ``os._exit(code)`` raises in chant's process while an activity of the
    project or of a package runs: it would end chant at once, with that code (0 too)
    and no compensation, so that a CI job would pass with nothing done."""


_os_exit_users = 0
_saved_os_exit: Callable[[int], NoReturn] = os._exit
_chant_pid = 0


def _os_exit(status: int) -> NoReturn:
    if os.getpid() != _chant_pid:  # a child the activity forked (multiprocessing) exits
        _saved_os_exit(status)
    raise _OsExit(status)


@contextlib.contextmanager
def _os_exit_raises() -> Iterator[None]:
    """While any non-built-in activity runs, ``os._exit`` in chant's own process
    raises ``_OsExit`` in the caller (the activity) instead of ending chant."""
    global _os_exit_users, _chant_pid, _saved_os_exit
    if _os_exit_users == 0:
        _chant_pid, _saved_os_exit = os.getpid(), os._exit
        os._exit = _os_exit
    _os_exit_users += 1
    try:
        yield
    finally:
        _os_exit_users -= 1
        if _os_exit_users == 0:
            setattr(os, "_exit", _saved_os_exit)  # noqa: B010 (mypy: a callable of ours)


def _exit_error(name: str, exc: BaseException) -> ChantError:
    from chant.errors import ActivityExitError

    if isinstance(exc, _OsExit):
        what = f"called os._exit({exc.code!r})"
    elif isinstance(exc, SystemExit):
        what = f"called sys.exit({exc.code!r})"
    else:
        what = f"raised {type(exc).__name__}" + (f"({exc})" if str(exc) else "")
    return ActivityExitError(
        f'activity "{name}" {what}; an activity must return its result or raise an '
        "exception, not end the program"
    )


async def run_attempt(
    defn: ActivityDef, args: Mapping[str, JSON], ctx: ActivityContext, profile: Profile
) -> JSON:
    """One attempt of ``defn``, bounded by ``profile``'s start-to-close timeout and, when it
    has one, its heartbeat timeout. Both executors call this, so an attempt that runs out
    of time is stopped the same way locally and on a Temporal worker: ``ctx.cancelled``
    is set and the activity's task cancelled (a command's process group is killed), then
    ``ActivityTimeoutError`` or ``HeartbeatTimeoutError`` is raised."""
    from chant.errors import ActivityTimeoutError, HeartbeatTimeoutError
    from chant.profiles import parse_duration

    timeout = parse_duration(profile.timeout)
    beat = parse_duration(profile.heartbeat_timeout) if profile.heartbeat_timeout else None
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


def _json_result(value: Any, defn: ActivityDef, ctx: ActivityContext) -> JSON:
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


async def _in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """Run a plain function in a daemon thread and await its result.

    A thread cannot be killed: when the attempt times out or is cancelled, the function
    is abandoned (it should watch ``ctx.cancelled``). A daemon thread, unlike the default
    executor's, does not keep chant from exiting afterwards.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(error: BaseException | None, value: Any) -> None:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def target() -> None:
        error: BaseException | None
        try:
            value, error = fn(**kwargs), None
        except (StopIteration, StopAsyncIteration) as exc:  # a Future refuses these
            value, error = None, _base_error(exc)
        except BaseException as exc:  # handed to the awaiting task, not swallowed
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while fn ran
            loop.call_soon_threadsafe(settle, error, value)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


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
    ) -> None:
        self._defs: dict[str, ActivityDef] = {}
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
            from chant.plan import where

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


_DECLARED: list[ActivityDef] = []


def declare(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    default_profile: str | None = None,
    source: str | None = None,
) -> None:
    """Record ``fn`` (decorated with ``@activity``) for every registry built afterwards."""
    _DECLARED.append(
        ActivityDef(
            name=name or fn.__name__,
            fn=fn,
            default_profile=default_profile or DEFAULT_PROFILE,
            source=source or fn.__module__,
        )
    )


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


def entry_point_activities() -> list[ActivityDef]:
    """Activities that installed packages expose in the ``chant.activities`` group.

    An entry point names one activity function (``name = "pkg.mod:fn"``), whose
    ``@activity`` settings, if any, are kept. An entry point that cannot be loaded (its
    import raises anything, even ``SystemExit``, or its target is missing or not
    callable) becomes a ``broken`` activity: listed, and an error only for a step that
    uses it. What the import prints goes to stderr, so ``--json`` output stays valid.
    """
    import sys
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group="chant.activities"):
        source = f"entry point {ep.name} = {ep.value}" + (
            f" ({ep.dist.name})" if ep.dist is not None else ""
        )
        try:
            with contextlib.redirect_stdout(sys.stderr):
                fn = ep.load()
            if not callable(fn):
                raise TypeError(f"{ep.value} is not callable (it is of type {type(fn).__name__})")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken package must not take chant down with it
            found.append(ActivityDef(name=ep.name, source=source, broken=_describe(exc)))
            continue
        meta = getattr(fn, "__chant_activity__", {})
        found.append(
            ActivityDef(
                name=meta.get("name", ep.name),
                fn=fn,
                default_profile=meta.get("default_profile", DEFAULT_PROFILE),
                source=source,
            )
        )
    return found


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def default_registry() -> Registry:
    """The built-ins, every function declared with ``@activity`` so far, and (looked up
    only when needed) the ``chant.activities`` entry points."""
    reg = Registry(BUILTINS, lazy=entry_point_activities)
    for d in _DECLARED:
        reg.add(d)
    return reg
