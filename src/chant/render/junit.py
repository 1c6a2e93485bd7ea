"""``chant run --junit FILE``: the run as a JUnit XML report, from its events.

One ``<testsuites>`` holding one ``<testsuite>`` named after the Op (``tests``,
``failures``, ``errors``, ``skipped``, ``time`` in seconds, ``timestamp``: the UTC time
of ``run_started`` as ``2026-12-02T16:26:03``), with ``<properties>``: ``run_id``,
``mode``, ``status``, ``plan_digest`` (when the run has one) and ``param.NAME`` for each
parameter value. One ``<testcase>`` per step: ``name`` its id, ``classname`` its phase's
name (an ``on_failure`` phase's with `` (on_failure)`` after it), ``time``.

- failed or cancelled: ``<failure type="ERROR_TYPE" message="MESSAGE">MESSAGE</failure>``
- skipped: ``<skipped message="WHY"/>``: the condition that skipped it, else why it did
  not run (``not run: step deploy.1 failed``)
- not finished (started, no ``step_finished``: chant stopped following the run, or its
  workflow closed without finishing the Op): ``<error type="NotFinished" message=…>``
- not reached (planned, no event; see ``chant.render.summary``): ``<skipped>``, its
  message saying so

Each step's last ``TAIL`` lines of stdout (with its ``log`` lines) are its
``<system-out>``, of stderr its ``<system-err>``, masked as every event is. Text is
made ``terminal_safe`` (control, invisible and bidi characters written as escapes such
as ``\\x1b``), which also keeps out every character XML 1.0 forbids, so the file always
parses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from chant.jsontypes import JSON
from chant.render.summary import RunStory, StepRow, safe_lines
from chant.render.text import outcome_text

TAIL = 100
"""Lines of each stream of a step's output kept, the last ones."""
NOT_FINISHED_TYPE = "NotFinished"


class JUnitReport(RunStory):
    """A sink that gathers the run's events (``RunStory``) and ``write``s them to
    ``file`` as JUnit XML."""

    def __init__(
        self,
        file: str,
        op: str,
        *,
        mode: str,
        planned: Sequence[tuple[str, str, bool]] = (),
    ) -> None:
        super().__init__(op, mode=mode, planned=planned, tail=TAIL)
        self.file = file

    def write(self) -> None:
        """Write the report to ``file`` (``OSError`` if it cannot be)."""
        tree = ET.ElementTree(document(self))
        ET.indent(tree)
        with open(self.file, "wb") as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
            tree.write(out, encoding="utf-8", xml_declaration=False)
            out.write(b"\n")


def document(story: RunStory) -> ET.Element:
    """The ``<testsuites>`` element of ``story``."""
    rows = story.rows()
    counts = {
        "tests": str(len(rows)),
        "failures": str(sum(r.status in ("failed", "cancelled") for r in rows)),
        "errors": str(sum(r.status == "running" for r in rows)),
        "skipped": str(sum(r.status in ("skipped", None) for r in rows)),
        "time": _seconds(story.duration_ms),
    }
    root = ET.Element("testsuites", {"name": _text(story.op), **counts})
    suite = ET.SubElement(root, "testsuite", {"name": _text(story.op), **counts})
    if story.started:  # UTC, to the second, without a zone: what JUnit's schema allows
        suite.set("timestamp", story.started[:19])
    properties = ET.SubElement(suite, "properties")
    named: list[tuple[str, JSON]] = [("run_id", story.run_id), ("mode", story.mode)]
    named.append(("status", story.status))
    if story.plan_digest:
        named.append(("plan_digest", story.plan_digest))
    named += [(f"param.{k}", v) for k, v in story.params.items()]
    for name, value in named:
        if value is not None:
            ET.SubElement(properties, "property", name=_text(name), value=_text(value))
    for row in rows:
        _case(suite, story, row)
    return root


def _case(suite: ET.Element, story: RunStory, row: StepRow) -> None:
    classname = row.phase + (" (on_failure)" if row.compensation else "")
    case = ET.SubElement(
        suite,
        "testcase",
        name=_text(row.id),
        classname=_text(classname),
        time=_seconds(story.spent_ms(row)),
    )
    if row.status in ("failed", "cancelled"):
        message = _text(row.error.get("message", ""))
        failure = ET.SubElement(
            case, "failure", type=_text(row.error.get("type", "")), message=message
        )
        failure.text = message
    elif row.status == "running":
        note = _text(story.note(row))
        error = ET.SubElement(case, "error", type=NOT_FINISHED_TYPE, message=note)
        error.text = note
    elif row.status in ("skipped", None):
        ET.SubElement(case, "skipped", message=_text(story.note(row)))
    for stream, tag in (("stdout", "system-out"), ("stderr", "system-err")):
        lines = row.tails.get(stream)
        if lines:
            dropped = row.dropped.get(stream, 0)
            head = [f"[{dropped} earlier lines not shown]"] if dropped else []
            text = "\n".join(head + [_text(line) for line in lines])
            ET.SubElement(case, tag).text = text + "\n"


def _text(value: JSON) -> str:
    """``value`` as text XML 1.0 can hold (strings as they are, else JSON), made safe."""
    text = safe_lines(outcome_text(value))
    if "\ufffe" in text or "\uffff" in text:  # not characters in XML, nor unsafe on a terminal
        text = text.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")
    return text


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"
