"""Text for the human view: a step's one-line summary, outcome values, wrapping to a
terminal's columns, and whether and how wide the terminal is."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from typing import TextIO

LABEL_WIDTH = 72
"""How many characters of a step's label are shown off a terminal; on one, the label
takes the terminal's width (less room for the duration)."""


def describe(
    fn: str, args: Mapping[str, object], width: int = LABEL_WIDTH, *, columns: bool = False
) -> str:
    """A one-line summary of a step: the command for ``shell``, else ``fn(k=v, …)``, cut
    to ``width`` characters (ending in ``…``), or with ``columns`` to ``width`` terminal
    columns (a wide character such as 日 takes two)."""
    cmd = args.get("cmd")
    if fn == "shell" and (isinstance(cmd, str) or _formatted(cmd)):
        text = " ".join((cmd if isinstance(cmd, str) else _short(cmd)).split())
    else:
        # Off switches and empty lists say nothing worth the width.
        parts = ", ".join(
            f"{k}={_short(v)}" for k, v in args.items() if v is not False and v != [] and v != {}
        )
        text = f"{fn}({parts})"
    if columns and not text.isascii():
        pieces = wrap(text, width)
        return pieces[0] if len(pieces) == 1 else wrap(text, max(width - 1, 1))[0] + "…"
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _formatted(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"$format"}


def _short(value: object) -> str:
    if isinstance(value, Mapping) and set(value) == {"$secret"}:
        return f"secret({value['$secret']})"
    if _formatted(value) or (isinstance(value, Mapping) and any(str(k)[:1] == "$" for k in value)):
        # A reference, or a string with references or secrets in it, as the Op wrote it.
        from chant.refs import ref_kind, written

        if _formatted(value):
            parts = value["$format"]  # type: ignore[index]
            if isinstance(parts, list):
                return "".join(p if isinstance(p, str) else "{" + _short(p) + "}" for p in parts)
        if ref_kind(value):
            return written(value)  # type: ignore[arg-type]
    return _json(value)


def outcome_text(value: object) -> str:
    """How an outcome value prints: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else _json(value)


def _json(value: object) -> str:
    # json on first use: a run whose steps are shell commands with string outcomes never
    # needs it, and it costs a millisecond of start-up.
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


_TOKEN = "\x1b\\[[0-9;]*m|."


def cells(char: str) -> int:
    """How many terminal columns ``char`` takes."""
    if char.isascii():
        return 1
    import unicodedata

    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def wrap(text: str, width: int) -> list[str]:
    """``text`` cut into pieces of at most ``width`` columns (SGR sequences take none)."""
    if width <= 0:
        return [text]
    if text.isascii() and "\x1b" not in text:
        return [text[i : i + width] for i in range(0, len(text), width)] or [""]
    pieces: list[str] = []
    piece: list[str] = []
    used = 0
    for token in re.findall(_TOKEN, text, re.S):
        size = 0 if token.startswith("\x1b") else cells(token)
        if used + size > width and used:
            pieces.append("".join(piece))
            piece, used = [], 0
        piece.append(token)
        used += size
    pieces.append("".join(piece))
    return pieces


def colour_wanted(stream: TextIO) -> bool:
    """Whether to colour output on ``stream``, in the order Python 3.13 decides its own:
    ``NO_COLOR`` set to a non-empty value turns colour off (no-color.org: an empty
    value does not); else ``FORCE_COLOR`` set to a non-empty value turns it on, even
    off a terminal (force-color.org); else ``TERM=dumb`` turns it off; else colour is
    on exactly when ``stream`` is a terminal."""
    env = os.environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    return terminal_fd(stream) is not None


def terminal_width(fd: int) -> int:
    """The width of terminal ``fd`` as ``shutil.get_terminal_size`` finds it (``COLUMNS``
    first, then the terminal, then 80), without importing shutil."""
    with contextlib.suppress(ValueError):
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    try:
        columns = os.get_terminal_size(fd).columns
    except OSError:
        columns = 0
    return columns if columns > 0 else 80


def terminal_fd(stream: TextIO) -> int | None:
    try:
        fd = stream.fileno()
        return fd if os.isatty(fd) else None
    except (OSError, ValueError, AttributeError):
        return None
