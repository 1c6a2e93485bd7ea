"""Ctrl-C and friends during a run: route the stop signals to a handler on the loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

from chant.activities.guard import STOP_SIGNALS


@contextlib.contextmanager
def on_stop(handler: Callable[[], None]) -> Iterator[None]:
    """Call ``handler`` on the running loop for each stop signal while the body runs,
    then put the previous handlers back. Off the main thread (a library caller's worker
    thread) signals cannot be caught there, and nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, handler)
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
