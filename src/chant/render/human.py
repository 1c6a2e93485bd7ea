"""The live human view: phase banners, a line per step, output beneath, a summary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from chant.events import Event
from chant.profiles import format_seconds
from chant.render import LineWriter

LABEL_WIDTH = 72
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


class HumanRenderer:
    def __init__(self, stream: TextIO, *, color: bool = False) -> None:
        self.line = LineWriter(stream)
        self.color = color
        self.labels: dict[str, str] = {}
        self.parallel = False

    def style(self, kind: str, text: str) -> str:
        return f"\x1b[{_STYLES[kind]}m{text}\x1b[0m" if self.color else text

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
        self.line(self.style("bold", f"[phase] {d['phase']}") + suffix)

    def on_step_started(self, d: Mapping[str, Any], _e: Event) -> None:
        label = self.labels[d["step"]] = f"{d['step']}  {describe(d['fn'], d['args'])}"
        self.line(f"  ▸ {label}")

    def on_step_output(self, d: Mapping[str, Any], _e: Event) -> None:
        prefix = f"[{d['step']}] " if self.parallel else ""
        text = f"      {prefix}{d['line']}"
        self.line(self.style("dim", text) if d["stream"] == "stderr" else text)

    def on_step_retrying(self, d: Mapping[str, Any], _e: Event) -> None:
        of = f"/{d['max_attempts']}" if d.get("max_attempts") else ""
        err = d["error"]
        self.line(
            self.style(
                "retry",
                (
                    f"  ↻ {d['step']} attempt {d['attempt']}{of} failed: {err['type']}: "
                    f"{err['message']} — retrying in {format_seconds(d['delay_ms'] / 1000)}"
                ),
            )
        )

    def on_step_finished(self, d: Mapping[str, Any], _e: Event) -> None:
        status = d["status"]
        label = self.labels.get(d["step"]) or f"{d['step']}  {describe(d['fn'], d['args'])}"
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
            self.line(self.style("failed", f"      {err['type']}: {err['message']}"))
        if d.get("outcome"):
            self.line(f"[outcome] {d['outcome']['name']}={outcome_text(d['outcome']['value'])}")

    def on_compensation_started(self, d: Mapping[str, Any], _e: Event) -> None:
        self.line(self.style("retry", f"[compensation] {d['reason']} — running on_failure phases"))

    def on_run_finished(self, d: Mapping[str, Any], e: Event) -> None:
        took = format_seconds(d["duration_ms"] / 1000)
        if d["status"] == "ok":
            self.line(self.style("ok", f'Op "{e.op}" completed in {took}'))
        elif d["status"] == "interrupted":
            self.line(self.style("failed", f'Op "{e.op}" interrupted after {took}'))
        else:
            err = d["error"] or {}
            self.line(
                self.style(
                    "failed",
                    (
                        f'Op "{e.op}" failed after {took}: step {d["failed_step"]} failed: '
                        f"{err.get('type')}: {err.get('message')}"
                    ),
                )
            )
