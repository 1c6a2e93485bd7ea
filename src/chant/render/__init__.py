"""Renderers: turn the event stream into human, JSON or JSON Lines output."""

from __future__ import annotations

import functools
import os
import re
from typing import TextIO


class LineWriter:
    """Writes whole lines and flushes them, until the reader goes away.

    When the reader closes the pipe (``chant run … | head``) or the terminal hangs up
    (``EIO`` after SIGHUP), output is dropped from then on and the Op keeps running (or
    compensates): stopping a deploy half-way because nobody reads its log would be worse
    than finishing it quietly.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def __call__(self, text: str) -> None:
        self.raw(text + "\n")

    def raw(self, text: str) -> None:
        """Write ``text`` as it is (no line end added) and flush it."""
        if self.broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # BrokenPipeError, or EIO/ENXIO from a terminal that hung up
            self.broken = True
            # Point the descriptor at /dev/null so the flush at exit cannot fail again.
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, self.stream.fileno())
                os.close(null)
            except (OSError, ValueError):
                pass


# --- terminal safety ------------------------------------------------------------------

_SGR = "\x1b\\[[0-9;]{0,64}m"
_UNSAFE = (
    "["
    "\x00-\x08\x0a-\x1f\x7f-\x9f"  # C0 controls but TAB, DEL, C1 controls
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"  # format characters:
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"  # invisible, bidi
    "\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"  # (Cf, but ZWNJ and ZWJ)
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates
    "]"
)


@functools.cache
def _pattern(json: bool = False) -> re.Pattern[str]:
    # Compiled on first need: most runs print only printable text and never need it.
    return re.compile(_UNSAFE if json else f"({_SGR})|{_UNSAFE}")


def json_text(doc: str) -> str:
    """JSON text ``doc`` (from ``json.dumps(..., ensure_ascii=False)``) with every
    character ``terminal_safe`` escapes written as a ``\\uXXXX`` escape (a surrogate
    pair above U+FFFF), so JSON shown on a terminal cannot act on it either. The
    document means the same: such characters occur only inside its strings."""

    def replace(m: re.Match[str]) -> str:
        units = m.group().encode("utf-16-le", "surrogatepass")
        return "".join(
            f"\\u{int.from_bytes(units[i : i + 2], 'little'):04x}" for i in range(0, len(units), 2)
        )

    return doc if doc.isascii() else _pattern(json=True).sub(replace, doc)


_SHORT = {"\n": "\\n", "\r": "\\r"}


def escaped(char: str) -> str:
    """``char`` written out as Python writes it in a string literal: ``\\r``, ``\\n``,
    ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_safe(text: str, *, colour: bool = False) -> str:
    """``text`` made harmless to show on a terminal: every control character but TAB
    (C0, DEL, C1, hence every escape sequence), every invisible or bidi format
    character (Unicode category Cf, but the joiners ZWNJ and ZWJ), the Unicode line
    and paragraph separators and lone surrogates are written out as escapes (``\\x1b``,
    ``\\u202e``), so they show instead of acting.

    The one exception is colour: an SGR sequence (``ESC [`` digits and semicolons
    ``m``) is kept when ``colour`` is on (a colour terminal), then ``ESC [0m`` ends the
    text so no colour outlives it, and an SGR that conceals text (parameter 8) is
    escaped instead. When ``colour`` is off, SGR sequences are dropped."""
    if text.isprintable():  # the common case, checked at C speed
        return text
    pattern = _pattern()
    if pattern.search(text) is None:
        return text
    kept = False

    def replace(m: re.Match[str]) -> str:
        nonlocal kept
        sgr = m.group(1)
        if sgr is None:
            return escaped(m.group())
        if not colour:
            return ""
        if _conceals(sgr[2:-1]):
            return "".join(escaped(c) if c == "\x1b" else c for c in sgr)
        kept = True
        return sgr

    safe = pattern.sub(replace, text)
    return safe + "\x1b[0m" if kept else safe


def _conceals(params: str) -> bool:
    """Whether SGR ``params`` include 8 (conceal) as a parameter of its own (not the
    colour number of a ``38;5;8``-style extended colour)."""
    parts = params.split(";")
    i = 0
    while i < len(parts):
        p = parts[i].lstrip("0") or "0"
        if p in ("38", "48", "58") and i + 1 < len(parts):
            i += 3 if parts[i + 1] == "5" else 5 if parts[i + 1] == "2" else 1
            continue
        if p == "8":
            return True
        i += 1
    return False
