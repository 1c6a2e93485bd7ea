"""A watchdog that stops running steps if chant dies without warning.

A step's command runs in its own process group, so a SIGKILLed ``chant run`` or worker
(or an out-of-memory kill) would leave it running, and on Temporal the step is retried
elsewhere while the old command is still at work. ``enable()`` starts a tiny watchdog
process holding the read end of a pipe from this process; when the pipe reaches
end-of-file without a goodbye — this process is gone — the watchdog stops the steps
(``chant.activities._watchdog``: SIGTERM, then SIGKILL 2 s later).

On Linux the watchdog is a ``/bin/sh`` that only waits (about a millisecond to start,
nothing to do per step) and runs the Python part after a crash: it finds every process
carrying this process's ``CHANT_STEP_TOKEN`` prefix, whatever group or session it moved
to. Elsewhere it is a ``python -I -S`` process to which each command's process group is
announced when it starts and withdrawn when it ends. Children are spawned with
``start_new_session``; ``preexec_fn`` (for PR_SET_PDEATHSIG) can deadlock a forked child
of a multi-threaded process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

from chant.activities import reap

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
"""Signals that stop chant gracefully (its steps first): Ctrl-C, ``kill``, a closed
terminal, Ctrl-\\."""

_LINUX = sys.platform.startswith("linux")
_WAIT = (
    'while read -r line; do [ "$line" = bye ] && exit 0; done; '
    'exec "$0" -I -S "$1" --after-crash "$2"'
)
_proc: subprocess.Popen[bytes] | None = None


def enable() -> None:
    """Start the watchdog for this process (once)."""
    global _proc
    if _proc is not None:
        return
    script = os.path.join(os.path.dirname(__file__), "_watchdog.py")
    python = [sys.executable, "-I", "-S", script, reap.prefix()]
    shell = ["/bin/sh", "-c", _WAIT, sys.executable, script, reap.prefix()]
    for argv in [shell, python] if _LINUX else [python]:
        try:
            _proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C or hang-up for chant is not for it
            )
            break
        except OSError:  # no /bin/sh (or no Python there): try the next, else go without
            continue
    if _proc is None or _proc.stdin is None:
        return
    os.set_blocking(_proc.stdin.fileno(), False)  # never stall chant on a full pipe
    reap.protected.add(_proc.pid)


def disable() -> None:
    """Say goodbye: this process ends cleanly and stops its own steps."""
    global _proc
    proc, _proc = _proc, None
    if proc is None or proc.stdin is None:
        return
    reap.protected.discard(proc.pid)
    fd = proc.stdin.fileno()
    with contextlib.suppress(OSError):
        os.set_blocking(fd, True)
        os.write(fd, b"bye\n")
    with contextlib.suppress(OSError):
        proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def track(pgid: int) -> None:
    """Announce a command's process group."""
    _send(f"+ {pgid}")


def untrack(pgid: int) -> None:
    _send(f"- {pgid}")


def _send(line: str) -> None:
    # On Linux the watchdog finds the steps by their token; it needs no announcements.
    if _proc is not None and _proc.stdin is not None and not _LINUX:
        with contextlib.suppress(OSError):
            os.write(_proc.stdin.fileno(), line.encode() + b"\n")
