"""Reports of a run for CI, from its events: ``RunStory`` gathers what the event stream
tells of each step (the same stream every renderer gets, secrets already masked), and
``markdown`` writes it as the short summary that ``chant run`` appends to the file
named by ``GITHUB_STEP_SUMMARY``. ``chant.render.junit`` writes the same story as a
JUnit XML report.

A step that started but has no ``step_finished`` (chant stopped following a Temporal
run, or its workflow closed without finishing the Op) is *not finished*; a planned step
that has no event at all is *not reached*: the main phases' steps, and the
``on_failure`` ones once compensation started (a run that needs no compensation has
none of them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from chant.events import Event, EventType, OutputLines
from chant.jsontypes import JSON, JSONObject
from chant.profiles import format_seconds
from chant.render import terminal_safe
from chant.render.text import outcome_text

NOT_FINISHED = "not finished"
NOT_REACHED = "not reached"


class StepRow:
    """What the events told of one step. ``status``: ``ok``, ``failed``, ``skipped``,
    ``cancelled``, ``running`` (started, not finished) or None (no event yet)."""

    __slots__ = (
        "attempts",
        "compensation",
        "dropped",
        "duration_ms",
        "error",
        "id",
        "order",
        "outcome",
        "phase",
        "reason",
        "started",
        "status",
        "tails",
    )

    def __init__(self, step: str, phase: str, compensation: bool, order: int) -> None:
        self.id, self.phase, self.compensation, self.order = step, phase, compensation, order
        self.status: str | None = None
        self.attempts = 0
        self.duration_ms: int | float = 0
        self.error: JSONObject = {}
        self.reason: str | None = None
        self.outcome: JSONObject = {}
        self.started: str | None = None
        """The ``ts`` of its ``step_started`` event."""
        self.tails: dict[str, list[JSON]] = {}
        """Output lines kept, ``stdout`` (with ``log``) and ``stderr``: the last
        ``RunStory.tail`` of each."""
        self.dropped: dict[str, int] = {}
        """Output lines not kept (older than the tail), by stream."""


class RunStory:
    """A sink that gathers a run's events into ``StepRow``s and the run's head.

    ``planned``: each step of the Op as ``(phase, step id, compensation)``, in declared
    order (main phases first), masked as events are: it orders the rows and names the
    steps no event reached. ``tail``: how many of each step's last output lines to keep
    per stream (0: none)."""

    def __init__(
        self,
        op: str,
        *,
        mode: str,
        planned: Sequence[tuple[str, str, bool]] = (),
        tail: int = 0,
    ) -> None:
        self.op, self.mode, self.tail = op, mode, tail
        self.run_id: str | None = None
        self.started: str | None = None
        """The ``ts`` of ``run_started``."""
        self.last: str | None = None
        """The ``ts`` of the last event."""
        self.params: JSONObject = {}
        self.plan_digest: str | None = None
        self.compensating = False
        self.finished: JSONObject | None = None
        """The ``run_finished`` event's data, once it came."""
        self.ending: str | None = None
        """Why the story ends without ``run_finished`` (see ``close``)."""
        self.steps: dict[str, StepRow] = {}
        self._failed: str | None = None
        """The first step of the main phases that failed."""
        self._phases: dict[str, bool] = {}
        """Whether each phase started is an ``on_failure`` one."""
        self._planned = {step: (i, phase, comp) for i, (phase, step, comp) in enumerate(planned)}

    # --- the events ---------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        d, kind = event.data, event.type
        self.last = event.ts
        if kind == EventType.STEP_OUTPUT:
            if self.tail:
                self._keep(str(d["step"]), str(d["stream"]), [d["line"]])
        elif kind == EventType.RUN_STARTED:
            self.run_id, self.started = event.run_id, event.ts
            self.mode = str(d["mode"])
            self.params = _obj(d.get("params"))
            digest = d.get("plan_digest")
            self.plan_digest = digest if isinstance(digest, str) else None
        elif kind == EventType.PHASE_STARTED:
            self._phases[str(d["phase"])] = bool(d["compensation"])
        elif kind == EventType.STEP_STARTED:
            row = self._row(str(d["step"]), str(d["phase"]))
            row.status, row.started = "running", event.ts
            row.attempts = max(row.attempts, 1)
        elif kind == EventType.STEP_RETRYING:
            row = self._row(str(d["step"]))
            row.attempts = max(row.attempts, _int(d["attempt"]) + 1)
        elif kind == EventType.STEP_FINISHED:
            row = self._row(str(d["step"]), str(d["phase"]))
            row.status = str(d["status"])
            row.attempts, row.duration_ms = _int(d["attempts"]), _int(d["duration_ms"])
            row.error, row.outcome = _obj(d.get("error")), _obj(d.get("outcome"))
            reason = d.get("reason")
            row.reason = reason if isinstance(reason, str) and reason else None
            if row.status == "failed" and not row.compensation and self._failed is None:
                self._failed = row.id
        elif kind == EventType.COMPENSATION_STARTED:
            self.compensating = True
        elif kind == EventType.RUN_FINISHED:
            self.finished = d

    def output_lines(self, batch: OutputLines) -> None:
        """The lines of ``batch`` at once (see ``chant.events.Emitter.output_lines``)."""
        if self.tail:
            self._keep(str(batch.step), batch.stream, batch.lines)

    def _keep(self, step: str, stream: str, lines: Sequence[JSON]) -> None:
        row = self._row(step)
        stream = "stderr" if stream == "stderr" else "stdout"  # a log line goes with stdout
        kept = row.tails.setdefault(stream, [])
        kept.extend(lines)
        extra = len(kept) - self.tail
        if extra > 0:
            del kept[:extra]
            row.dropped[stream] = row.dropped.get(stream, 0) + extra

    def _row(self, step: str, phase: str = "") -> StepRow:
        """The row of ``step`` (of ``phase``, when the event says), made on its first event."""
        row = self.steps.get(step)
        if row is None:
            known = self._planned.get(step)
            if known is not None:
                order, planned_phase, compensation = known
            else:  # not in the plan given (none was): after every planned step
                order, planned_phase = len(self._planned) + len(self.steps), ""
                compensation = self._phases.get(phase, False)
            row = self.steps[step] = StepRow(step, phase or planned_phase, compensation, order)
        elif phase and not row.phase:
            row.phase = phase
        return row

    # --- after the run ------------------------------------------------------------

    def close(self, ending: str) -> None:
        """Say why the story ends when no ``run_finished`` came: ``ending`` completes
        "not finished: …" and "not reached: …" (e.g. ``chant stopped following the
        run (it goes on on Temporal)``)."""
        if self.finished is None:
            self.ending = ending

    @property
    def status(self) -> str:
        """The run's status: ``ok``, ``failed``, ``interrupted``, or ``not finished``."""
        return str(self.finished["status"]) if self.finished is not None else NOT_FINISHED

    @property
    def duration_ms(self) -> float:
        """The run's duration, or the time from its first event to its last."""
        if self.finished is not None:
            return _int(self.finished["duration_ms"])
        return max(_ms_between(self.started, self.last), 0)

    @property
    def failed_step(self) -> str | None:
        """The step whose failure failed the run (so far: the first that failed)."""
        if self.finished is not None:
            failed = self.finished.get("failed_step")
            return failed if isinstance(failed, str) else None
        return self._failed

    def rows(self) -> list[StepRow]:
        """Every step to report, in declared order: those the events told of, and the
        planned ones no event reached (``status`` None)."""
        rows = dict(self.steps)
        for step, (order, phase, compensation) in self._planned.items():
            if step not in rows and (not compensation or self.compensating):
                rows[step] = StepRow(step, phase, compensation, order)
        return sorted(rows.values(), key=lambda r: r.order)

    def note(self, row: StepRow) -> str:
        """Why ``row`` was skipped, not finished or not reached; "" for another."""
        if row.status == "running":
            return f"{NOT_FINISHED}: {self.ending or 'chant stopped'}"
        if row.status is None:
            return f"{NOT_REACHED}: {self.ending or 'chant stopped'}"
        if row.status != "skipped":
            return ""
        if row.reason:
            return row.reason
        if self.status == "interrupted":
            return "not run: the run was interrupted"
        failed = self.failed_step
        return f"not run: step {failed} failed" if failed else "not run"

    def spent_ms(self, row: StepRow) -> float:
        """How long ``row`` ran: its duration, or for one not finished the time from
        its start to the last event."""
        if row.status == "running":
            return max(_ms_between(row.started, self.last), 0)
        return row.duration_ms

    @property
    def outcomes(self) -> dict[str, JSON]:
        return {str(r.outcome["name"]): r.outcome["value"] for r in self.rows() if r.outcome}


# --- Markdown ---------------------------------------------------------------------------

_MARKS = {
    "ok": "✅ ok",
    "failed": "❌ failed",
    "skipped": "⏭️ skipped",
    "cancelled": "🚫 cancelled",
    "running": f"⏳ {NOT_FINISHED}",
}
_CELL_MAX = 300
"""Characters of a user's text (a reason, an outcome's value) a table cell shows."""
_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~$!])")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_TICKS = re.compile(r"`+")


def markdown(story: RunStory) -> str:
    """The run as a short Markdown summary (GitHub's flavour): a heading with its
    status, a line with its run id, mode and plan digest, a table of the steps, a table
    of the outcomes, and the failed step's error in a code block."""
    took = format_seconds(story.duration_ms / 1000)
    op = _inline(story.op)
    heading = {
        "ok": f"✅ {op} completed in {took}",
        "failed": f"❌ {op} failed after {took}",
        "interrupted": f"⚠️ {op} interrupted after {took}",
    }.get(story.status, f"⏳ {op}: {_inline(story.ending or NOT_FINISHED)}, after {took}")
    head = [f"run {_span(story.run_id)}" if story.run_id else "", story.mode]
    if story.plan_digest:
        head.append(f"plan {_span(story.plan_digest)}")
    parts = [f"### {heading}", " · ".join(h for h in head if h)]
    rows = story.rows()
    if rows:
        table = ["| phase | step | status | attempts | duration | note |", "|" + " --- |" * 6]
        for r in rows:
            phase = _cell(r.phase) + (" (on\\_failure)" if r.compensation else "")
            status = _MARKS.get(r.status or "", f"⏳ {NOT_REACHED}")
            ran = r.status not in (None, "skipped")
            spent = format_seconds(story.spent_ms(r) / 1000) if ran else ""
            note = story.note(r) or (str(r.error.get("type", "")) if r.error else "")
            cells = (phase, _cell(r.id), status, str(r.attempts), spent, _cell(note))
            table.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(table))
    outcomes = story.outcomes
    if outcomes:
        table = ["| outcome | value |", "| --- | --- |"]
        table += [f"| {_cell(k)} | {_cell(outcome_text(v))} |" for k, v in outcomes.items()]
        parts.append("\n".join(table))
    failed = story.failed_step
    error = story.steps[failed].error if failed in story.steps else {}
    if failed and error:
        kind = _inline(str(error.get("type", "")))
        parts.append(f"**Step {_inline(failed)} failed**: {kind}")
        parts.append(_code(str(error.get("message", ""))))
    return "\n\n".join(parts) + "\n"


def append(story: RunStory, file: str) -> None:
    """Append the summary of ``story`` to ``file`` (after a blank line when the file
    has text already, so that each run's starts a block of its own); ``OSError`` if it
    cannot be written."""
    with open(file, "a", encoding="utf-8") as out:
        out.write(("\n" if out.tell() else "") + markdown(story))


def _inline(text: object) -> str:
    """``text`` as literal Markdown text on one line: control characters escaped,
    line ends as ``<br>``, every character Markdown could act on backslash-escaped."""
    lines = _NEWLINE.split(str(text))
    return "<br>".join(_SPECIAL.sub(r"\\\1", terminal_safe(line)) for line in lines)


def _span(text: str) -> str:
    """``text`` (chant's own: a run id, a digest) as a code span; backticks, which
    would end it, as quotes (nothing is escaped inside a code span)."""
    return "`" + terminal_safe(text).replace("`", "'") + "`"


def _cell(text: str) -> str:
    """``text`` in a table cell: literal (``_inline``), cut at ``_CELL_MAX`` characters."""
    return _inline(text if len(text) <= _CELL_MAX else text[: _CELL_MAX - 1] + "…")


def _code(text: str) -> str:
    """``text`` in a fenced code block no line of it can close."""
    longest = max((len(m) for m in _TICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{safe_lines(text)}\n{fence}"


def safe_lines(text: str) -> str:
    """``text`` with each of its lines made ``terminal_safe`` (control and invisible
    characters written as escapes), its line ends as ``\\n``."""
    return "\n".join(terminal_safe(line) for line in _NEWLINE.split(text))


def _obj(value: JSON) -> JSONObject:
    return value if isinstance(value, Mapping) else {}


def _int(value: JSON) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ms_between(start: str | None, end: str | None) -> float:
    """Milliseconds from ISO 8601 time ``start`` to ``end`` (0 if either is unknown)."""
    if start is None or end is None:
        return 0
    from datetime import datetime

    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000
    except ValueError:
        return 0
