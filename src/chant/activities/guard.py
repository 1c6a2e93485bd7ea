"""A watchdog that stops running steps if their worker dies without warning.

A step's command runs in its own process group, so a SIGKILLed worker (or an out-of-
memory kill) would leave it running: Temporal then retries the step elsewhere while
the old command is still at work. ``enable()`` starts a tiny watchdog process that
holds the read end of a pipe from this process. Each command's group is announced on
the pipe when it starts and withdrawn when it ends; when the pipe reaches end-of-file
without a clean goodbye — this process is gone — the watchdog stops every group still
announced (SIGTERM, then SIGKILL after 2 s). Children are spawned with
``start_new_session``; ``preexec_fn`` (for PR_SET_PDEATHSIG) can deadlock a forked
child of a multi-threaded worker.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import IO

_WATCHDOG = r"""
import os, signal, sys, time
groups = set()
clean = False
for line in sys.stdin:
    op, _, arg = line.strip().partition(" ")
    if op == "+":
        groups.add(int(arg))
    elif op == "-":
        groups.discard(int(arg))
    elif op == "bye":
        clean = True
        break
if not clean and groups:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in groups:
            try:
                os.killpg(g, sig)
            except OSError:
                pass
        if sig == signal.SIGTERM:
            time.sleep(2)
"""

_proc: subprocess.Popen[bytes] | None = None


def enable() -> None:
    """Start the watchdog for this process (once)."""
    global _proc
    if _proc is None:
        _proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _WATCHDOG],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C for this process is not for the watchdog
        )


def disable() -> None:
    """Say goodbye: this process ends cleanly and stops its own steps."""
    global _proc
    proc, _proc = _proc, None
    if proc is not None:
        _send(proc.stdin, "bye")
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)


def track(pgid: int) -> None:
    if _proc is not None:
        _send(_proc.stdin, f"+ {pgid}")


def untrack(pgid: int) -> None:
    if _proc is not None:
        _send(_proc.stdin, f"- {pgid}")


def _send(pipe: IO[bytes] | None, line: str) -> None:
    if pipe is None:
        return
    with contextlib.suppress(OSError, ValueError):
        pipe.write(line.encode() + b"\n")
        pipe.flush()
