"""Renderers: turn the event stream into human, JSON or JSON Lines output."""

from __future__ import annotations

import os
from typing import TextIO


class LineWriter:
    """Writes whole lines and flushes them, until the reader goes away.

    When the reader closes the pipe (``chant run … | head``), output is dropped from then
    on and the Op keeps running: stopping a deploy half-way because nobody reads its log
    would be worse than finishing it quietly.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def __call__(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.broken = True
            # Point the descriptor at /dev/null so the flush at exit cannot fail again.
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, self.stream.fileno())
                os.close(null)
            except (OSError, ValueError):
                pass
