"""Importing a project's own code: op files and activity modules may run anything at
import, so chant imports them with the process protected (``guarded_import``) and with
the project root on ``sys.path`` only meanwhile (``project_imports``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from chant.errors import ChantError, Problem, UsageError

_CHANT_DIR = str(Path(__file__).parent)

IMPORT_TIMEOUT_ENV = "CHANT_IMPORT_TIMEOUT"
DEFAULT_IMPORT_TIMEOUT = 30.0
"""Seconds an op file (or activity module) may take to import; ``CHANT_IMPORT_TIMEOUT``
overrides it (``0`` turns the bound off)."""


class ImportEscape(BaseException):
    """An op file did, while being imported, what would end, split or replace the chant
    process (``os._exit``, ``os.fork``, ``os.exec*``, a signal to itself), or ran too long.

    A BaseException, so that the file's own ``except Exception`` cannot swallow it."""


def import_timeout() -> float:
    """The import bound in seconds, from ``CHANT_IMPORT_TIMEOUT`` (default 30)."""
    text = os.environ.get(IMPORT_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_IMPORT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:  # NaN fails this too
        raise UsageError(
            f"{IMPORT_TIMEOUT_ENV}={text!r} is not a number of seconds from 0 to 86400",
            hint=f"e.g. {IMPORT_TIMEOUT_ENV}=60, or 0 for no bound (default 30)",
        )
    return seconds


_REFUSED: tuple[str, ...] = ("_exit", "abort", "fork", "forkpty", "execv", "execve", "execl")
_REFUSED += ("execle", "execlp", "execlpe", "execvp", "execvpe")


def _refuse(what: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join(repr(a) for a in args)[:80]
        raise ImportEscape(f"it called os.{what}({shown}) while being imported")

    return refused


class _ToStderr:
    """What ``sys.stdout`` is while an op file imports: its prints go to stderr, so
    that stdout stays the command's own (``chant list --json``)."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        return self._target.write(text)

    def close(self) -> None:
        """Closing it closes nothing: stderr is still chant's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@contextmanager
def guarded_import(shown: str, seconds: float) -> Iterator[None]:
    """Import user code with the process protected: calls that would end, fork or
    replace the process raise ``ImportEscape`` instead, stdout (the stream and fd 1)
    goes to stderr, the working directory is put back, and in the main thread the
    import is bounded by ``CHANT_IMPORT_TIMEOUT`` (SIGALRM) and a KeyboardInterrupt
    raised by the file itself is told apart from a real Ctrl-C. ``seconds`` is the
    bound (0: none; see ``import_timeout``); ``shown`` names the
    file (or module) for the last resort: a file that swallows the timeout three more
    times ends chant with exit 2 and a message naming it."""
    exit_now, stderr = os._exit, sys.stderr
    bounded = _bounded(shown, seconds, exit_now, stderr)
    with _cwd_kept(), _stdout_to_stderr_kept(), _escapes_refused(), bounded:
        yield


@contextmanager
def _escapes_refused() -> Iterator[None]:
    """Calls that would end, fork or replace chant, or signal it, raise ``ImportEscape``."""
    saved_os = {name: getattr(os, name) for name in _REFUSED if hasattr(os, name)}
    saved_kill = (os.kill, os.killpg, signal.raise_signal)
    me = os.getpid()

    def kill(pid: int, sig: int) -> None:
        if sig != 0 and pid in (0, me, -1, -os.getpgrp()):  # signal 0 only probes
            raise ImportEscape(f"it sent signal {sig} to chant itself while being imported")
        saved_kill[0](pid, sig)

    def killpg(pgid: int, sig: int) -> None:
        if sig != 0 and pgid in (0, os.getpgrp()):
            raise ImportEscape(f"it sent signal {sig} to chant itself while being imported")
        saved_kill[1](pgid, sig)

    def raise_signal(sig: int) -> None:
        raise ImportEscape(f"it raised signal {sig} in chant while being imported")

    for name in saved_os:
        setattr(os, name, _refuse(name))
    os.kill, os.killpg, signal.raise_signal = kill, killpg, raise_signal
    try:
        yield
    finally:
        for name, fn in saved_os.items():
            setattr(os, name, fn)
        os.kill, os.killpg, signal.raise_signal = saved_kill


@contextmanager
def _stdout_to_stderr_kept() -> Iterator[None]:
    """``sys.stdout`` and fd 1 point at stderr meanwhile, so that ``chant list --json``
    keeps stdout its own."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _ToStderr(sys.stderr)
    fd = _stdout_to_stderr()
    try:
        yield
    finally:
        _restore_stdout(fd)
        sys.stdout, sys.stderr = stdout, stderr


@contextmanager
def _cwd_kept() -> Iterator[None]:
    cwd = _cwd()
    try:
        yield
    finally:
        if cwd is not None and _cwd() != cwd:
            os.chdir(cwd)


@contextmanager
def _bounded(
    shown: str, seconds: float, exit_now: Callable[[int], Any], stderr: TextIO
) -> Iterator[None]:
    """In the main thread: a SIGALRM after ``seconds`` (0: none) raises ``ImportEscape``,
    and a real Ctrl-C is told apart from a ``KeyboardInterrupt`` the file raises, which
    becomes an ``ImportEscape`` (in any thread)."""
    main = threading.current_thread() is threading.main_thread()
    real_interrupt = [False]
    fired = [0]

    def interrupt(signum: int, frame: Any) -> None:
        real_interrupt[0] = True
        raise KeyboardInterrupt

    def too_long(signum: int, frame: Any) -> None:
        fired[0] += 1
        if fired[0] > 3:  # it catches BaseException in a loop: nothing else stops it
            stderr.write(
                f"chant: error: {shown}: importing it took longer than {seconds:g}s, "
                "and it ignored being stopped\n  hint: make the import finish sooner, "
                f"or raise {IMPORT_TIMEOUT_ENV} (seconds)\n"
            )
            stderr.flush()
            exit_now(2)
        raise ImportEscape(f"importing it took longer than {seconds:g}s")

    if main:
        old_int = signal.signal(signal.SIGINT, interrupt)
        old_alarm = signal.signal(signal.SIGALRM, too_long) if seconds else None
        # Fires again each second, in case the file swallows the first one.
        previous = signal.setitimer(signal.ITIMER_REAL, seconds, 1.0) if seconds else (0.0, 0.0)
        started = time.monotonic()
    try:
        yield
    except KeyboardInterrupt as exc:
        if real_interrupt[0]:
            raise
        escape = ImportEscape("it raised KeyboardInterrupt while being imported")
        raise escape.with_traceback(exc.__traceback__) from None
    finally:
        if main:
            if seconds:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old_alarm)
                if previous[0] > 0:  # someone else's timer (pytest-timeout): keep it going
                    left = max(previous[0] - (time.monotonic() - started), 0.001)
                    signal.setitimer(signal.ITIMER_REAL, left, previous[1])
            signal.signal(signal.SIGINT, old_int)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _stdout_to_stderr() -> int | None:
    """Point fd 1 at fd 2 (so that commands an op file runs print to stderr too); the
    saved fd 1, or None when there is none to save."""
    try:
        for stream in (sys.stdout, sys.__stdout__):
            if stream is not None:
                stream.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _restore_stdout(saved: int | None) -> None:
    if saved is None:
        return
    with suppress(OSError, ValueError):
        sys.stderr.flush()
    os.dup2(saved, 1)
    os.close(saved)


@contextmanager
def project_imports(root: Path) -> Iterator[None]:
    """The project root on ``sys.path`` while its op files and activity modules import
    (so they can import the project's own helper modules), and taken off again after.
    Modules of the names the root provides that an earlier load imported (from this
    project or another one) are forgotten first, so that each load imports the
    project's own afresh and collects what they declare."""
    entry = str(root)
    for name in _stale_modules(entry):
        del sys.modules[name]
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with suppress(ValueError):
                sys.path.remove(entry)


def _stale_modules(root: str) -> list[str]:
    """The loaded modules named like a module or package in folder ``root`` that were not
    imported from a folder on ``sys.path`` (besides ``root``): an earlier load's."""
    try:
        provided = {n.removesuffix(".py") for n in os.listdir(root)}
    except OSError:
        return []
    elsewhere = tuple(
        os.path.join(os.path.abspath(p or "."), "")
        for p in sys.path
        if isinstance(p, str) and os.path.abspath(p or ".") != root
    )
    stale = []
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in provided:
            continue
        try:
            file = getattr(module, "__file__", None)
            places = [file] if isinstance(file, str) else list(getattr(module, "__path__", ()))
        except Exception:  # a module object of odd make: leave it alone
            continue
        if places and not any(str(p).startswith(elsewhere) for p in places):
            stale.append(name)
    return stale


def shown_path(path: Path | str) -> str:
    """``path`` relative to the current directory when it lies beneath it. A link is
    shown as itself, not as its target: that is the name chant found it by."""
    p = Path(path).absolute()
    p = p.parent.resolve() / p.name if p.name not in ("", ".", "..") else p.resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def import_problem(exc: BaseException, path: Path | None, what: str, why: str) -> Problem:
    """Where and why importing ``path`` (or a module) failed; the line is the last one of
    ``path`` on the traceback, or of the failing module when ``path`` is None."""
    if isinstance(exc, SyntaxError):
        file = shown_path(exc.filename) if exc.filename else None
        where = f"{file}:{exc.lineno}" if file and exc.lineno else file
        return Problem(
            f"SyntaxError: {exc.msg}", where, hint=f"fix the syntax; chant imports {what}"
        )
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if (
            Path(f.filename) == path
            if path is not None
            else "importlib" not in f.filename and not f.filename.startswith(_CHANT_DIR)
        )
    ]
    where = f"{shown_path(frames[-1].filename)}:{frames[-1].lineno}" if frames else None
    where = where or (shown_path(path) if path is not None else None)
    if isinstance(exc, ImportEscape):
        timeout = "took longer" in str(exc)
        return Problem(
            str(exc),
            where,
            hint=f"make the import finish sooner, or raise {IMPORT_TIMEOUT_ENV} (seconds)"
            if timeout
            else f"chant imports {what} {why}; a file only declares, so do this in a step",
        )
    if isinstance(exc, SystemExit):
        return Problem(
            f"it called sys.exit({_safe_repr(exc.code)}) while being imported",
            where,
            hint=f"chant imports {what} {why}; a file only declares, so remove the exit",
        )
    detail = exc.message if isinstance(exc, ChantError) else _safe_str(exc)
    return Problem(
        f"{type(exc).__name__} while importing: {detail}",
        where,
        hint=f"fix the error above; chant imports {what} {why}",
    )


def _safe_str(exc: BaseException) -> str:
    """``str(exc)``, even for an exception whose ``__str__`` fails; cut to 500 characters."""
    try:
        text = str(exc)
    except Exception:
        text = f"(its message cannot be shown: {type(exc).__name__}.__str__ failed)"
    return text if len(text) <= 500 else text[:500] + "…"


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        text = "?"
    return "" if value is None else text[:80]
