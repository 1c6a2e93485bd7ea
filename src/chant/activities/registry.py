"""The activity registry: the one boundary through which Ops touch the world.

An activity is a function taking keyword arguments and returning JSON-able data. It
may also take a ``ctx`` parameter (an ``ActivityContext``) to heartbeat, log lines and
notice cancellation. Executors call activities only through a ``Registry``; tests swap
in a registry of fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chant.errors import ChantError
from chant.ir import JSON


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
    ) -> None:
        self.step_id = step_id
        self.attempt = attempt
        self.heartbeat_interval = heartbeat_interval
        """How often a long-running activity should heartbeat; None when not required."""
        self.kill_grace = kill_grace
        """Seconds between SIGTERM and SIGKILL when a command's group is stopped."""
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
    """A registered activity."""

    name: str
    fn: Callable[..., Any]
    default_profile: str = "fast_idempotent"
    source: str = "chant (built-in)"
    takes_context: bool = field(init=False)
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        code = getattr(self.fn, "__code__", None)
        params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount] if code else ()
        object.__setattr__(self, "takes_context", "ctx" in params)
        object.__setattr__(self, "is_async", asyncio.iscoroutinefunction(self.fn))

    async def invoke(self, args: Mapping[str, JSON], ctx: ActivityContext) -> JSON:
        """Run the activity once with ``args``; plain functions run in a worker thread."""
        kwargs = {**args, "ctx": ctx} if self.takes_context else dict(args)
        if self.is_async:
            return await self.fn(**kwargs)
        return await _in_daemon_thread(self.fn, kwargs, f"chant-activity-{self.name}")


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
        try:
            value, error = fn(**kwargs), None
        except BaseException as exc:  # handed to the awaiting task, not swallowed
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while fn ran
            loop.call_soon_threadsafe(settle, error, value)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


class Registry:
    """Activities by name. Two with one name is an error naming both sources."""

    def __init__(self, defs: Iterable[ActivityDef] = ()) -> None:
        self._defs: dict[str, ActivityDef] = {}
        for d in defs:
            self.add(d)

    def add(self, d: ActivityDef) -> None:
        old = self._defs.get(d.name)
        if old is not None and old.fn is not d.fn:
            raise ChantError(
                f'two activities are named "{d.name}": {old.source} and {d.source}',
                hint="rename one of them (e.g. @activity on a function with another name)",
            )
        self._defs[d.name] = d

    def get(self, name: str) -> ActivityDef | None:
        return self._defs.get(name)

    def names(self) -> list[str]:
        return sorted(self._defs)

    def __contains__(self, name: object) -> bool:
        return name in self._defs


_DECLARED: list[ActivityDef] = []


def declare(fn: Callable[..., Any], *, source: str | None = None) -> None:
    """Record ``fn`` (decorated with ``@activity``) for every registry built afterwards."""
    _DECLARED.append(ActivityDef(name=fn.__name__, fn=fn, source=source or fn.__module__))


def default_registry() -> Registry:
    """The built-in activities plus every function declared with ``@activity`` so far."""
    from chant.activities.shell import shell

    reg = Registry([ActivityDef(name="shell", fn=shell)])
    for d in _DECLARED:
        reg.add(d)
    return reg
