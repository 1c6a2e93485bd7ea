"""How an activity function is called: plain functions in a daemon thread, and what an
activity does to end the program (``sys.exit``, ``os._exit``) turned into a failure of
its attempt. ``ActivityDef.invoke`` uses these; ``http_check`` runs its blocking request
with ``in_daemon_thread`` too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from chant.errors import ChantError


def base_error(exc: BaseException) -> ChantError:
    """A failure of the attempt for a ``BaseException`` that is not an ``Exception``,
    which the walk and Temporal would otherwise take for a cancel or let end chant."""
    from chant.errors import ActivityError
    from chant.outcomes import error_of

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
def os_exit_raises() -> Iterator[None]:
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


def exit_error(name: str, exc: BaseException) -> ChantError:
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


async def in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
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
            value, error = None, base_error(exc)
        except BaseException as exc:  # handed to the awaiting task, not swallowed
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while fn ran
            loop.call_soon_threadsafe(settle, error, value)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future
