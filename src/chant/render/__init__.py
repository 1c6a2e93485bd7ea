"""Renderers: turn the event stream into human, JSON or JSON Lines output."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from typing import TextIO, TypeGuard


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

    def lines(self, texts: list[str]) -> None:
        """Write each of ``texts`` as a line, in one write and one flush."""
        if texts:
            self.raw("\n".join(texts) + "\n")

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


def all_str(values: Sequence[object]) -> TypeGuard[Sequence[str]]:
    """Whether every one of ``values`` is a ``str`` (checked at C speed)."""
    try:
        "".join(values)  # type: ignore[arg-type]  # a TypeError if one is not a str
    except TypeError:
        return False
    return True


# --- terminal safety ------------------------------------------------------------------

_SGR_TAIL = "\\[[0-9;]{0,64}m"  # what follows ESC in an SGR (colour) sequence
_SGR = "\x1b" + _SGR_TAIL
_UNSAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x1B, 0x1B),  # ESC, first: in the human view's pattern, it is unsafe unless an SGR
    (0x00, 0x08), (0x0A, 0x1A), (0x1C, 0x1F), (0x7F, 0x9F),  # C0 but TAB, DEL, C1
    # Format characters (Unicode category Cf, but ZWNJ and ZWJ): invisible, bidi.
    (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F),
    (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200B), (0x200E, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0x2028, 0x2029),  # line and paragraph separators
    (0xD800, 0xDFFF),  # lone surrogates
)  # fmt: skip
_BUT_ESC = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _UNSAFE_RANGES[1:])


@functools.cache
def _pattern(json: bool = False) -> re.Pattern[str]:
    # Compiled on first need: most runs print only printable text and never need it.
    # A run of unsafe characters is one match, escaped by a table at C speed: a step
    # printing megabytes of binary or control bytes costs no Python call per byte.
    if json:
        return re.compile(f"[\x1b{_BUT_ESC}]+")
    return re.compile(f"({_SGR})|(?:[{_BUT_ESC}]+|\x1b(?!{_SGR_TAIL}))+")


@functools.cache
def _table(json: bool = False) -> dict[int, str]:
    """Every unsafe character's escape: as Python writes it (``escaped``), or as a
    JSON ``\\uXXXX`` escape (a surrogate pair above U+FFFF)."""

    def as_json(char: str) -> str:
        units = char.encode("utf-16-le", "surrogatepass")
        return "".join(
            f"\\u{int.from_bytes(units[i : i + 2], 'little'):04x}" for i in range(0, len(units), 2)
        )

    write = as_json if json else escaped
    return {c: write(chr(c)) for lo, hi in _UNSAFE_RANGES for c in range(lo, hi + 1)}


def json_text(doc: str) -> str:
    """JSON text ``doc`` (from ``json.dumps(..., ensure_ascii=False)``) with every
    character ``terminal_safe`` escapes written as a ``\\uXXXX`` escape (a surrogate
    pair above U+FFFF), so JSON shown on a terminal cannot act on it either. The
    document means the same: such characters occur only inside its strings."""
    if doc.isascii():
        return doc
    table = _table(json=True)
    return _pattern(json=True).sub(lambda m: m.group().translate(table), doc)


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
    table = _table()
    kept = False

    def replace(m: re.Match[str]) -> str:
        nonlocal kept
        sgr = m.group(1)
        if sgr is None:
            return m.group().translate(table)
        if not colour:
            return ""
        if _conceals(sgr[2:-1]):
            return sgr.translate(table)
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
