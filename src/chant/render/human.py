"""The live human view: phase banners, a line per step, output beneath, a summary.

Everything a step, a user or an Op file can put into the view (step output, ids, names,
arguments, errors, outcome values) goes through ``terminal_safe`` first: control
characters and invisible or bidi format characters are shown as escapes (``\\x1b``,
``\\u202e``) instead of acting on the terminal; only colour (SGR) of step output is kept,
on a colour terminal. Step output is always indented. On a terminal, lines longer than
its width are wrapped by chant, each continuation indented, so text a terminal would
wrap can never start a row flush-left as chant's own lines do. The terminal's settings
(termios) as they were when the view started are restored when the run ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any, TextIO

from chant.events import Event
from chant.profiles import format_seconds
from chant.render import LineWriter, terminal_safe

LABEL_WIDTH = 72
OUTPUT_INDENT = "      "
"""What every line of step output, and every continuation of a wrapped line, starts with."""
_STYLES = {"ok": "32", "failed": "31", "retry": "33", "dim": "2", "bold": "1", "cancelled": "35"}
_MARKS = {"ok": "✓", "failed": "✗", "skipped": "–", "cancelled": "⊘"}


def describe(fn: str, args: Mapping[str, Any]) -> str:
    """A one-line summary of a step: the command for ``shell``, else ``fn(k=v, …)``."""
    if fn == "shell" and isinstance(args.get("cmd"), str):
        text = " ".join(str(args["cmd"]).split())
    else:
        # Off switches and empty lists say nothing worth the width.
        parts = ", ".join(
            f"{k}={_short(v)}" for k, v in args.items() if v is not False and v != [] and v != {}
        )
        text = f"{fn}({parts})"
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 1] + "…"


def _short(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"$secret"}:
        return f"secret({value['$secret']})"
    return json.dumps(value, ensure_ascii=False, default=str)


def outcome_text(value: Any) -> str:
    """How an outcome value prints: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


_TOKEN = "\x1b\\[[0-9;]*m|."


def _cells(char: str) -> int:
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
        cells = 0 if token.startswith("\x1b") else _cells(token)
        if used + cells > width and used:
            pieces.append("".join(piece))
            piece, used = [], 0
        piece.append(token)
        used += cells
    pieces.append("".join(piece))
    return pieces


def _terminal_fd(stream: TextIO) -> int | None:
    try:
        fd = stream.fileno()
        return fd if os.isatty(fd) else None
    except (OSError, ValueError, AttributeError):
        return None


class HumanRenderer:
    def __init__(self, stream: TextIO, *, color: bool = False) -> None:
        self.write = LineWriter(stream)
        self.color = color
        self.labels: dict[str, str] = {}
        self.parallel = False
        self.tty = _terminal_fd(stream)
        self.saved_terminal: list[Any] | None = None
        if self.tty is not None:
            import termios

            with contextlib.suppress(termios.error):
                self.saved_terminal = termios.tcgetattr(self.tty)

    def style(self, kind: str, text: str) -> str:
        return f"\x1b[{_STYLES[kind]}m{text}\x1b[0m" if self.color else text

    def line(self, text: str) -> None:
        """Write ``text`` (already safe); on a terminal, wrapped to its width."""
        if self.tty is not None:
            try:
                width = os.get_terminal_size(self.tty).columns
            except OSError:
                width = 0
            # One column to spare: a terminal wraps on a line that fills it exactly.
            pieces = wrap(text, width - 1)
            if len(pieces) > 1:
                rest = wrap("".join(pieces[1:]), width - 1 - len(OUTPUT_INDENT))
                text = "\n".join([pieces[0], *(OUTPUT_INDENT + p for p in rest)])
        self.write(text)

    def restore_terminal(self) -> None:
        """Put the terminal's settings back as they were when the view started (a step
        may have changed them through /dev/tty, e.g. ``stty -echo``)."""
        if self.tty is None or self.saved_terminal is None:
            return
        import termios

        with contextlib.suppress(termios.error):
            if termios.tcgetattr(self.tty) != self.saved_terminal:
                termios.tcsetattr(self.tty, termios.TCSADRAIN, self.saved_terminal)

    def __call__(self, event: Event) -> None:
        handler = getattr(self, "on_" + event.type, None)
        if handler is not None:
            handler(event.data, event)

    def on_phase_started(self, d: Mapping[str, Any], _e: Event) -> None:
        self.parallel = bool(d["parallel"])
        notes = [
            n
            for n, on in (
                ("parallel", d["parallel"]),
                ("on_failure", d["compensation"]),
                ("skipped", d["skipped"]),
            )
            if on
        ]
        suffix = f" ({', '.join(notes)})" if notes else ""
        self.line(self.style("bold", f"[phase] {_safe(d['phase'])}") + suffix)

    def on_step_started(self, d: Mapping[str, Any], _e: Event) -> None:
        label = self.labels[d["step"]] = _label(d)
        self.line(f"  ▸ {label}")

    def on_step_output(self, d: Mapping[str, Any], _e: Event) -> None:
        prefix = f"[{_safe(d['step'])}] " if self.parallel else ""
        line = terminal_safe(str(d["line"]), colour=self.color).expandtabs()
        text = f"{OUTPUT_INDENT}{prefix}{line}"
        self.line(self.style("dim", text) if d["stream"] == "stderr" else text)

    def on_step_retrying(self, d: Mapping[str, Any], _e: Event) -> None:
        of = f"/{d['max_attempts']}" if d.get("max_attempts") else ""
        err = d["error"]
        self.line(
            self.style(
                "retry",
                _safe(
                    f"  ↻ {d['step']} attempt {d['attempt']}{of} failed: {err['type']}: "
                    f"{err['message']} — retrying in {format_seconds(d['delay_ms'] / 1000)}"
                ),
            )
        )

    def on_step_finished(self, d: Mapping[str, Any], _e: Event) -> None:
        status = d["status"]
        label = self.labels.get(d["step"]) or _label(d)
        if status == "skipped":
            self.line(self.style("dim", f"  – {label} (skipped)"))
            return
        detail = format_seconds(d["duration_ms"] / 1000)
        if d["attempts"] > 1:
            detail += f", {d['attempts']} attempts"
        if status == "cancelled":
            detail += ", cancelled"
        self.line(f"  {self.style(status, _MARKS[status])} {label} ({detail})")
        if status == "failed":
            err = d["error"]
            self.line(
                self.style("failed", _safe(f"{OUTPUT_INDENT}{err['type']}: {err['message']}"))
            )
        if d.get("outcome"):
            name, value = d["outcome"]["name"], outcome_text(d["outcome"]["value"])
            self.line(_safe(f"[outcome] {name}={value}"))

    def on_compensation_started(self, d: Mapping[str, Any], _e: Event) -> None:
        self.line(
            self.style("retry", _safe(f"[compensation] {d['reason']} — running on_failure phases"))
        )

    def on_run_finished(self, d: Mapping[str, Any], e: Event) -> None:
        took = format_seconds(d["duration_ms"] / 1000)
        op = _safe(e.op)
        if d["status"] == "ok":
            self.line(self.style("ok", f'Op "{op}" completed in {took}'))
        elif d["status"] == "interrupted":
            self.line(self.style("failed", f'Op "{op}" interrupted after {took}'))
        else:
            err = d["error"] or {}
            self.line(
                self.style(
                    "failed",
                    _safe(
                        f'Op "{e.op}" failed after {took}: step {d["failed_step"]} failed: '
                        f"{err.get('type')}: {err.get('message')}"
                    ),
                )
            )
        self.restore_terminal()


def _safe(value: object) -> str:
    return terminal_safe(str(value))


def _label(d: Mapping[str, Any]) -> str:
    return _safe(f"{d['step']}  {describe(d['fn'], d['args'])}")
