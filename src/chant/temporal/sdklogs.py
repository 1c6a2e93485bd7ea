"""Where temporalio's own log lines go: ``.chant/logs/temporal.log`` of the project.

Apart from ``chant.temporal.connect`` so that commands which never load the SDK (``chant
server start``) do not import ``logging`` either."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

SDK_LOG = Path(".chant", "logs", "temporal.log")
"""Where, in the project, temporalio's own log lines go (relative to its root)."""


def route(root: Path, *, debug: bool = False) -> None:
    """Keep temporalio's log lines — its Python loggers' and its Rust core's (forwarded to
    ``temporalio.core``) — off the terminal: they go to ``.chant/logs/temporal.log`` of
    the project (dropped if it cannot be written), and with ``--debug`` to stderr too.

    chant says itself what a user needs to know (a worker missing, a step retried);
    the SDK's lines (``sdk_core … ResourceExhausted BusyWorkflow``) are for debugging."""
    logger = logging.getLogger("temporalio")
    for handler in list(logger.handlers):
        if getattr(handler, "chant", False):
            logger.removeHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [_LogFile(root / SDK_LOG)]
    if debug:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.chant = True  # type: ignore[attr-defined]
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(handler)


class _LogFile(logging.Handler):
    """Appends to ``path``, made (with ``.chant/``) on the first line. It never raises
    and never prints: a project it cannot write to loses the lines."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.path = path
        self.stream: Any = None
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            if self.stream is None:
                _make_dot_chant(self.path.parent.parent)
                self.path.parent.mkdir(exist_ok=True)
                self.stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except Exception:
            self.broken = True


def _make_dot_chant(folder: Path) -> None:
    """Make the project's ``.chant`` folder, ignored by git, unless it exists."""
    if not os.path.lexists(folder):
        with contextlib.suppress(FileExistsError):  # another chant made it just now
            folder.mkdir()
            (folder / ".gitignore").write_text("*\n", encoding="utf-8")
