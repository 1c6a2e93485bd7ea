"""A command's output streams: read as data arrives, split into lines in linear time,
masked, cut at ``LINE_LIMIT`` (never inside a secret), emitted, and the end of each kept
as a tail for the result. See ``chant.activities.process`` for the rules."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
from bisect import bisect_left
from collections import deque
from itertools import accumulate, repeat
from operator import add

from chant.activities.registry import ActivityContext

TAIL_CHARS = 64 * 1024
"""How much of each stream a result keeps (the end of it)."""
LINE_LIMIT = 64 * 1024
"""Characters in one line of output; a longer line is cut into pieces this long."""
READ_CHUNK = 64 * 1024


class Tail:
    """The last ``limit`` characters of a stream (of its masked lines): the text of the
    shortest run of last lines that is ``limit`` long (counting a line end per line),
    or of every line if there are not that many, cut to ``limit`` from its end."""

    def __init__(self, limit: int = TAIL_CHARS) -> None:
        self.batches: deque[tuple[list[str], int]] = deque()
        """Lines as they were added, with their size; no more than ``text`` needs."""
        self.size = 0
        self.limit = limit

    def add(self, line: str) -> None:
        self.extend([line])

    def extend(self, lines: list[str]) -> None:
        """Add ``lines`` (of one read, say): kept whole, and a batch of older lines is
        dropped once the newer ones hold the limit without it (no work per line)."""
        if not lines:
            return
        size = sum(map(len, lines)) + len(lines)
        self.batches.append((lines, size))
        self.size += size
        while self.size - self.batches[0][1] >= self.limit:
            self.size -= self.batches.popleft()[1]

    @property
    def lines(self) -> list[str]:
        """The last lines: the shortest run of them that is ``limit`` long, or all."""
        kept = [line for batch, _ in self.batches for line in batch]
        # What the last 1, 2, 3… lines take, counted at C speed.
        sizes = list(accumulate(map(add, map(len, reversed(kept)), repeat(1))))
        n = bisect_left(sizes, self.limit)
        return kept[len(kept) - n - 1 :] if n < len(sizes) else kept

    def text(self) -> str:
        return "\n".join(self.lines).rstrip()[-self.limit :]


_UTF8 = codecs.getincrementaldecoder("utf-8")


class Stream:
    """One pipe of a command, read without blocking as data arrives and split into
    masked lines (see the module docstring). ``raw`` keeps lines whole and ``\r`` as
    it is (for output that is data, not progress). The lines of one read are emitted
    together, through ``ActivityContext.output_lines``."""

    def __init__(self, fd: int, name: str, ctx: ActivityContext, *, raw: bool = False) -> None:
        self.fd, self.name, self.ctx, self.raw = fd, name, ctx, raw
        self.tail = Tail()
        self.decoder = _UTF8("replace")
        self.parts: list[str] = []
        self.size = 0
        self.cr = False  # the text so far ended with a "\r" that may start a "\r\n"
        self.done: list[str] = []  # the lines of this read, not emitted yet
        self.loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        self.loop.add_reader(fd, self._read, 1)
        self.open = True

    def _read(self, reads: int) -> bool:
        """Up to ``reads`` reads; whether the pipe is empty (or closed) now."""
        for _ in range(reads):
            try:
                data = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                self.close()
                return True
            self._feed(self.decoder.decode(data))
            self._flush()
            self.ctx.heartbeat()
        return False

    def close(self) -> None:
        """Read what the pipe holds now (not waiting for more: an escaped process may
        hold it open), close it, and emit the last partial line."""
        if not self.open:
            return
        self.open = False
        self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            for _ in range(256):  # up to 16 MiB; a writer that never stops is cut off
                data = os.read(self.fd, READ_CHUNK)
                if not data:
                    break
                self._feed(self.decoder.decode(data))
                self._flush()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self._feed(self.decoder.decode(b"", final=True))
        if self.parts or self.cr:
            self._line()
        self._flush()

    def _feed(self, text: str) -> None:
        if not text:
            return
        first = text.find("\n")
        if first >= 0 and not self.raw and "\r" not in text:
            self._feed_lines(text, first)
            return
        start, n = 0, len(text)
        while True:
            nl = text.find("\n", start)
            end = n if nl < 0 else nl
            self._add(text, start, end, nl >= 0)
            if nl < 0:
                return
            self._line()
            start = nl + 1

    def _feed_lines(self, text: str, first: int) -> None:
        """``_feed`` of text without ``\r`` holding a line end at ``first``: the lines
        it holds whole are split at C speed (each as ``_add`` and ``_line`` would take
        it), the first and the last piece go the general way."""
        self._add(text, 0, first, True)
        self._line()
        last = text.rfind("\n")
        if last > first:
            mask = self.ctx.masker.text if self.ctx.masker else None
            pieces = text[first + 1 : last].split("\n")
            if max(map(len, pieces)) <= LINE_LIMIT:
                self.done.extend(map(mask, pieces) if mask else pieces)
            else:
                for piece in pieces:
                    self._add(piece, 0, len(piece), True)
                    self._line()
        self._add(text, last + 1, len(text), False)

    def _add(self, text: str, start: int, end: int, line_ends: bool) -> None:
        if self.raw:
            if end > start:
                self.parts.append(text[start:end])
                self.size += end - start
            return
        if self.cr and (end > start or not line_ends):
            self._restart()  # a lone "\r": what came before it is overwritten
        self.cr = False
        if end > start and text[end - 1] == "\r":
            end -= 1
            self.cr = not line_ends  # at a line end it is a "\r\n"
        cr = text.rfind("\r", start, end)
        if cr >= 0:
            self._restart()
            start = cr + 1
        if end > start:
            self.parts.append(text[start:end])
            self.size += end - start
            if self.size > LINE_LIMIT + self.ctx.masker.longest:
                self._cut(final=False)

    def _restart(self) -> None:
        self.parts, self.size = [], 0

    def _line(self) -> None:
        if self.raw:
            line = "".join(self.parts).removesuffix("\r")
            self._restart()
            self._emit(self.ctx.masker.text(line))
            return
        self.cr = False
        if self.size > LINE_LIMIT:
            self._cut(final=True)
        line = "".join(self.parts)
        self._restart()
        self._emit(self.ctx.masker.text(line))

    def _cut(self, *, final: bool) -> None:
        """Emit pieces of ``LINE_LIMIT`` characters while the line is longer; without
        ``final`` keep back what a secret continuing in later output could need."""
        keep = 0 if final else self.ctx.masker.longest
        text = "".join(self.parts)
        while len(text) > LINE_LIMIT + keep:
            piece, text = self._split(text)
            self._emit(piece)
        self.parts, self.size = [text], len(text)

    def _split(self, text: str) -> tuple[str, str]:
        """A masked first piece of ``text`` and the rest, cut where no secret spans."""
        mask = self.ctx.masker
        width = mask.longest - 1
        if width <= 0:
            return text[:LINE_LIMIT], text[LINE_LIMIT:]
        for cut in range(LINE_LIMIT, LINE_LIMIT - 4 * width, -1):
            before, after = text[cut - width : cut], text[cut : cut + width]
            if mask.text(before + after) == mask.text(before) + mask.text(after):
                return mask.text(text[:cut]), text[cut:]
        return "***", text[LINE_LIMIT:]  # secrets everywhere around the cut: show none

    def _emit(self, line: str) -> None:
        self.done.append(line)

    def _flush(self) -> None:
        """Keep the lines read so far in the tail and emit them."""
        if self.done:
            lines, self.done = self.done, []
            self.tail.extend(lines)
            self.ctx.output_lines(lines, self.name)
