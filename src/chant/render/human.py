"""The live human view: phase banners, a line per step, output beneath, a summary.

Everything a step, a user or an Op file can put into the view (step output, ids, names,
arguments, errors, outcome values) goes through ``terminal_safe`` first: control
characters and invisible or bidi format characters are shown as escapes (``\\x1b``,
``\\u202e``) instead of acting on the terminal; only colour (SGR) of step output is kept,
on a colour terminal. Step output is always indented. On a terminal, lines longer than
its width are wrapped by chant, each continuation indented, so text a terminal would
wrap can never start a row flush-left as chant's own lines do. The terminal's settings
(termios) as they were when the view started are restored when the run ends.

On a terminal (not ``TERM=dumb``) the bottom row is a *live line*: the steps running for
a second or more, each with its elapsed time, redrawn in place by a background thread
at most once a second. It is one row, drawn and cleared with a carriage return and
spaces only, so every line above it is written once and stays in the scrollback as it
was; chant's own lines clear it before they print, and it is redrawn a moment later.
(A library such as rich would redraw with cursor movements, hide the cursor and cost
its import; one row needs neither.)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from chant.events import Event, EventType, OutputLines
from chant.jsontypes import JSON, JSONObject
from chant.profiles import format_seconds
from chant.render import LineWriter, all_str, terminal_safe
from chant.render.text import (
    LABEL_WIDTH,
    cells,
    colour_wanted,
    describe,
    terminal_fd,
    terminal_width,
    wrap,
)
from chant.render.text import outcome_text as outcome_text  # re-exported for callers

DURATION_ROOM = len(" (12.3s)")
LIVE_AFTER = 1.0
"""Seconds a step runs before the live line shows it."""
TICK = 0.25
"""Seconds between looks at the live line (it is rewritten only when its text changes)."""
OUTPUT_INDENT = "      "
"""What every line of step output, and every continuation of a wrapped line, starts with."""
_STYLES = {"ok": "32", "failed": "31", "retry": "33", "dim": "2", "bold": "1", "cancelled": "35"}
_MARKS = {"ok": "✓", "failed": "✗", "skipped": "–", "cancelled": "⊘"}


_ACTIVE: list[HumanRenderer] = []
"""Renderers whose live line may be on the screen now."""


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Clear every live line and keep it off while the block writes to the terminal
    (chant's notices on stderr, e.g. after Ctrl-C); it is redrawn a moment later."""
    with contextlib.ExitStack() as stack:
        for renderer in list(_ACTIVE):
            stack.enter_context(renderer.lock)
            renderer.clear_live()
        yield


_ON_TERMINALS: list[HumanRenderer] = []
"""Renderers that saved their terminal's settings, to put back when the command ends."""


def close_all() -> None:
    """Stop every live line and clear it, and put every terminal's settings back as
    they were (the command is ending, perhaps without an Op-finished event: a Temporal
    run that the user detached from)."""
    for renderer in list(_ACTIVE):
        renderer.close()
    for renderer in _ON_TERMINALS:
        renderer.restore_terminal()


class HumanRenderer:
    def __init__(self, stream: TextIO, *, color: bool | None = None) -> None:
        """``color``: None decides by ``colour_wanted(stream)``."""
        self.write = LineWriter(stream)
        self.color = colour_wanted(stream) if color is None else color
        self.labels: dict[str, str] = {}
        self.parallel = False
        self.tty = terminal_fd(stream)
        self.saved_terminal: list[Any] | None = None
        self.live = self.tty is not None and os.environ.get("TERM") != "dumb"
        self.running: dict[str, float] = {}
        """Running steps: id → when it started (``time.monotonic()``)."""
        self.shown = ""
        """The live line now on the screen (its text without colour), or ""."""
        if self.tty is not None:
            import termios

            with contextlib.suppress(termios.error):
                self.saved_terminal = termios.tcgetattr(self.tty)
                _ON_TERMINALS.append(self)
        if self.live:
            import threading

            self.lock = threading.RLock()
            self.stop = threading.Event()
            self.ticker: threading.Thread | None = None

    def style(self, kind: str, text: str) -> str:
        return f"\x1b[{_STYLES[kind]}m{text}\x1b[0m" if self.color else text

    def width(self) -> int:
        return 0 if self.tty is None else terminal_width(self.tty)

    def line(self, text: str) -> None:
        """Write ``text`` (already safe); on a terminal, wrapped to its width."""
        self.lines([text])

    def lines(self, texts: list[str]) -> None:
        """Write each of ``texts`` (already safe) as ``line`` does, in one write."""
        if self.tty is not None:
            width = self.width()
            texts = [_fit(text, width) for text in texts]
        if self.live:
            with self.lock:
                self.clear_live()
                self.write.lines(texts)
        else:
            self.write.lines(texts)

    # --- the live line ----------------------------------------------------------------

    def live_text(self) -> str:
        """The live line for now: each step running for ``LIVE_AFTER`` or more, with its
        elapsed time, cut to the terminal's width; "" when there is none."""
        now = time.monotonic()
        parts = [
            f"▸ {step} … {_elapsed(now - start)}"
            for step, start in self.running.items()
            if now - start >= LIVE_AFTER
        ]
        if not parts:
            return ""
        text = "  " + "   ".join(parts)
        pieces = wrap(text, self.width() - 1)
        return pieces[0] if len(pieces) == 1 else wrap(text, self.width() - 2)[0] + "…"

    def draw_live(self) -> None:
        with self.lock:
            text = self.live_text()
            if text != self.shown:
                self.clear_live()
                if text:
                    self.write.raw(self.style("dim", text))
                    self.shown = text

    def clear_live(self) -> None:
        """Take the live line off the screen (the cursor ends at the row's start)."""
        if self.shown:
            width = sum(cells(c) for c in self.shown)
            self.write.raw("\r" + " " * width + "\r")
            self.shown = ""

    def _tick(self) -> None:
        while not self.stop.wait(TICK):
            self.draw_live()

    def _started(self, step: str, ts: str) -> None:
        if not self.live:
            return
        from datetime import datetime

        # From the event's time: a Temporal run's events reach chant a little later.
        try:
            ago = time.time() - datetime.fromisoformat(ts).timestamp()
        except (TypeError, ValueError):
            ago = 0.0
        with self.lock:
            self.running[step] = time.monotonic() - min(max(ago, 0.0), 86400.0)
        if self.ticker is None:
            import threading

            self.ticker = threading.Thread(target=self._tick, name="chant-live", daemon=True)
            _ACTIVE.append(self)
            self.ticker.start()

    def close(self) -> None:
        """Stop the live line and clear it."""
        if not self.live:
            return
        self.stop.set()
        if self.ticker is not None and self.ticker.is_alive():
            self.ticker.join()
        with self.lock:
            self.running.clear()
            self.clear_live()
        with contextlib.suppress(ValueError):
            _ACTIVE.remove(self)

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
        handler = HANDLERS[event.type]
        if handler is not None:
            handler(self, event.data, event)

    def on_phase_started(self, d: JSONObject, _e: Event) -> None:
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

    def on_step_started(self, d: JSONObject, e: Event) -> None:
        label = self.labels[str(d["step"])] = self.label(d)
        self.line(f"  ▸ {label}")
        self._started(str(d["step"]), e.ts)

    def label(self, d: JSONObject) -> str:
        """``id  description``: the description cut at ``LABEL_WIDTH``, or on a terminal
        to what its width leaves for it on a finished step's line."""
        width = LABEL_WIDTH
        if self.tty is not None:
            used = len("  ✓ ") + sum(map(cells, str(d["step"]))) + 2 + DURATION_ROOM
            width = max(self.width() - 1 - used, 20)
        label = describe(str(d["fn"]), _obj(d["args"]), width, columns=self.tty is not None)
        return _safe(f"{d['step']}  {label}")

    def on_step_output(self, d: JSONObject, _e: Event) -> None:
        prefix = f"[{_safe(d['step'])}] " if self.parallel else ""
        text = f"{OUTPUT_INDENT}{prefix}{_shown(d['line'], self.color)}"
        self.line(self.style("dim", text) if d["stream"] == "stderr" else text)

    def output_lines(self, batch: OutputLines) -> None:
        """The ``step_output`` events of ``batch``, each shown as ``on_step_output``
        shows it, in one write."""
        prefix = OUTPUT_INDENT + (f"[{_safe(batch.step)}] " if self.parallel else "")
        lines, colour = batch.lines, self.color
        # The common case, checked at C speed: every line a printable str.
        if all_str(lines) and "".join(lines).isprintable():
            texts = list(map(prefix.__add__, lines))
        else:
            texts = [prefix + _shown(line, colour) for line in lines]
        if batch.stream == "stderr":
            texts = [self.style("dim", text) for text in texts]
        self.lines(texts)

    def on_step_retrying(self, d: JSONObject, _e: Event) -> None:
        of = f"/{d['max_attempts']}" if d.get("max_attempts") else ""
        err = _obj(d["error"])
        self.line(
            self.style(
                "retry",
                _safe(
                    f"  ↻ {d['step']} attempt {d['attempt']}{of} failed: {err['type']}: "
                    f"{err['message']} — retrying in {_seconds(d['delay_ms'])}"
                ),
            )
        )

    def on_step_finished(self, d: JSONObject, _e: Event) -> None:
        status = str(d["status"])
        if self.live:
            with self.lock:
                self.running.pop(str(d["step"]), None)
        label = self.labels.get(str(d["step"])) or self.label(d)
        if status == "skipped":
            reason = d.get("reason")
            why = f"skipped: {reason}" if isinstance(reason, str) and reason else "skipped"
            self.line(self.style("dim", _safe(f"  – {label} ({why})")))
            return
        detail = _seconds(d["duration_ms"])
        if _number(d["attempts"]) > 1:
            detail += f", {d['attempts']} attempts"
        if status == "cancelled":
            detail += ", cancelled"
        self.line(f"  {self.style(status, _MARKS[status])} {label} ({detail})")
        if status == "failed":
            err = _obj(d["error"])
            self.line(
                self.style("failed", _safe(f"{OUTPUT_INDENT}{err['type']}: {err['message']}"))
            )
        outcome = _obj(d.get("outcome"))
        if outcome:
            name, value = outcome["name"], outcome_text(outcome["value"])
            self.line(_safe(f"[outcome] {name}={value}"))

    def on_compensation_started(self, d: JSONObject, _e: Event) -> None:
        self.line(
            self.style("retry", _safe(f"[compensation] {d['reason']} — running on_failure phases"))
        )

    def on_run_finished(self, d: JSONObject, e: Event) -> None:
        self.close()
        took = _seconds(d["duration_ms"])
        op = _safe(e.op)
        if d["status"] == "ok":
            self.line(self.style("ok", f'Op "{op}" completed in {took}'))
        elif d["status"] == "interrupted":
            self.line(self.style("failed", f'Op "{op}" interrupted after {took}'))
        else:
            err = _obj(d["error"])
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


_Handler = Callable[[HumanRenderer, JSONObject, Event], None]
HANDLERS: dict[EventType, _Handler | None] = {
    EventType.RUN_STARTED: None,  # the first phase's banner says enough
    EventType.PHASE_STARTED: HumanRenderer.on_phase_started,
    EventType.STEP_STARTED: HumanRenderer.on_step_started,
    EventType.STEP_OUTPUT: HumanRenderer.on_step_output,
    EventType.STEP_RETRYING: HumanRenderer.on_step_retrying,
    EventType.STEP_FINISHED: HumanRenderer.on_step_finished,
    EventType.PHASE_FINISHED: None,  # its steps' lines say how it went
    EventType.COMPENSATION_STARTED: HumanRenderer.on_compensation_started,
    EventType.RUN_FINISHED: HumanRenderer.on_run_finished,
}
"""How the human view shows each event type; None: deliberately not shown. Every
``EventType`` has an entry (a test checks), so a new type cannot go unseen by mistake."""


def _fit(text: str, width: int) -> str:
    """``text`` wrapped to a terminal ``width`` columns wide, continuations indented."""
    # One column to spare: a terminal wraps on a line that fills it exactly.
    pieces = wrap(text, width - 1)
    if len(pieces) > 1:
        rest = wrap("".join(pieces[1:]), width - 1 - len(OUTPUT_INDENT))
        text = "\n".join([pieces[0], *(OUTPUT_INDENT + p for p in rest)])
    return text


def _shown(line: JSON, colour: bool) -> str:
    """A line of step output as the view shows it (made safe, tabs expanded)."""
    return terminal_safe(str(line), colour=colour).expandtabs()


def _safe(value: object) -> str:
    return terminal_safe(str(value))


def _obj(value: JSON) -> JSONObject:
    """An event's object field (``error``, ``outcome``, ``args``); {} for null."""
    return value if isinstance(value, Mapping) else {}


def _number(value: JSON) -> float:
    return value if isinstance(value, int | float) else 0


def _seconds(ms: JSON) -> str:
    """Milliseconds as durations print (``1.2s``, ``2m05s``)."""
    return format_seconds(_number(ms) / 1000)


def _elapsed(seconds: float) -> str:
    """Whole seconds under a minute (``7s``), else as durations print (``2m05s``)."""
    return f"{int(seconds)}s" if seconds < 60 else format_seconds(seconds)
