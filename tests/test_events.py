"""The event model: typed event types and statuses that match the documented strings."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path

import pytest

from chant.events import (
    Emitter,
    Event,
    EventType,
    Masker,
    PhaseStatus,
    RunResult,
    RunStatus,
    StepResult,
    StepStatus,
)
from chant.render.human import HANDLERS, HumanRenderer

CLI_DOC = Path(__file__).parents[1] / "docs" / "cli.md"


def documented_events() -> dict[str, str]:
    """docs/cli.md's table of event types: each type with the text of its keys cell."""
    text = CLI_DOC.read_text(encoding="utf-8")
    table = text.split("**Event types and their other keys:**", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", table, re.M)
    assert rows, "docs/cli.md has no event table"
    return dict(rows)


def documented_statuses(event: str) -> set[str]:
    """The values docs/cli.md gives for ``status`` in ``event``'s row."""
    cell = documented_events()[event]
    found = re.search(r"`status` \(([^)]*)\)", cell)
    assert found, f"docs/cli.md: the {event} row lists no statuses"
    return set(re.findall(r"`(\w+)`", found.group(1)))


def values(enum: type[StrEnum]) -> set[str]:
    return {member.value for member in enum}


def emitter(*sinks: list[Event], secrets: tuple[str, ...] = ()) -> Emitter:
    return Emitter(
        op="deploy",
        run_id="abc123",
        sinks=[s.append for s in sinks],
        masker=Masker(secrets),
        now=lambda: "2026-11-24T01:02:11.498Z",
    )


# --- the enums are the documented strings ------------------------------------------


def test_the_event_types_are_exactly_those_documented_in_order() -> None:
    assert list(documented_events()) == [t.value for t in EventType]


def test_the_step_statuses_of_step_finished_are_those_documented() -> None:
    # running is a step's status only while it runs (chant status), never in an event.
    assert documented_statuses("step_finished") == values(StepStatus) - {"running"}


def test_the_phase_statuses_are_those_documented() -> None:
    assert documented_statuses("phase_finished") == values(PhaseStatus)


def test_the_run_statuses_are_those_documented() -> None:
    assert documented_statuses("run_finished") == values(RunStatus)


def test_an_enum_member_is_its_string_in_json() -> None:
    doc = {"type": EventType.RUN_FINISHED, "status": RunStatus.INTERRUPTED}
    assert json.dumps(doc) == '{"type": "run_finished", "status": "interrupted"}'


# --- the emitter ------------------------------------------------------------------


def test_the_emitter_rejects_an_unknown_event_type_naming_it() -> None:
    seen: list[Event] = []
    emit = emitter(seen)
    with pytest.raises(ValueError) as err:
        emit("step_finsihed", step="a.1")
    assert str(err.value) == (
        "unknown event type 'step_finsihed' (one of: run_started, phase_started, "
        "step_started, step_output, step_retrying, step_finished, phase_finished, "
        "compensation_started, run_finished)"
    )
    assert seen == []
    assert emit(EventType.RUN_STARTED, mode="local", steps=0).seq == 1


def test_the_emitter_takes_a_type_as_its_string_while_call_sites_switch() -> None:
    event = emitter()("step_output", step="a.1", stream="stdout", line="hi")
    assert event.type is EventType.STEP_OUTPUT


def test_to_dict_of_a_sample_event_is_byte_identical_to_the_documented_line() -> None:
    emit = emitter(secrets=("hunter2",))
    event = emit(
        EventType.STEP_FINISHED,
        step="look-around.1",
        phase="Look around",
        fn="shell",
        args={"cmd": "echo hunter2"},
        status=StepStatus.OK,
        attempts=1,
        duration_ms=4,
        outcome=None,
        error=None,
    )
    line = json.dumps(event.to_dict(), ensure_ascii=False, default=str)
    assert line == (
        '{"v": 1, "type": "step_finished", "seq": 1, "ts": "2026-11-24T01:02:11.498Z", '
        '"run_id": "abc123", "op": "deploy", "step": "look-around.1", "phase": "Look around", '
        '"fn": "shell", "args": {"cmd": "echo ***"}, "status": "ok", "attempts": 1, '
        '"duration_ms": 4, "outcome": null, "error": null}'
    )
    assert type(event.to_dict()["type"]) is str


def test_an_event_read_back_from_its_dict_is_equal_and_typed() -> None:
    event = emitter()(EventType.PHASE_FINISHED, phase="P", status="ok", duration_ms=3)
    back = Event.from_dict(json.loads(json.dumps(event.to_dict())))
    assert back == event
    assert back.type is EventType.PHASE_FINISHED


def test_an_event_of_an_unknown_type_is_not_read_back() -> None:
    doc = {"v": 1, "type": "step_done", "seq": 1, "ts": "t", "run_id": "r", "op": "o"}
    with pytest.raises(ValueError, match="unknown event type 'step_done'"):
        Event.from_dict(doc)


# --- results ----------------------------------------------------------------------


def test_a_result_read_back_has_typed_statuses_and_the_same_dict() -> None:
    step = StepResult(
        id="a.1", phase="P", fn="shell", args={}, status="failed", attempts=2, duration_ms=5
    )
    run = RunResult(
        op="o", mode="local", run_id="r", ok=False, status="failed", duration_ms=9, steps=(step,)
    )
    doc = run.to_dict()
    back = RunResult.from_dict(json.loads(json.dumps(doc)))
    assert (back.status, back.steps[0].status) == (RunStatus.FAILED, StepStatus.FAILED)
    assert back.to_dict() == doc
    assert type(doc["status"]) is str


def test_a_result_with_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="'done' is not a valid RunStatus"):
        RunResult(op="o", mode="local", run_id="r", ok=True, status="done", duration_ms=0, steps=())


# --- renderers --------------------------------------------------------------------


def test_the_human_view_says_for_every_event_type_how_it_shows_it() -> None:
    assert set(HANDLERS) == set(EventType)
    ignored = {t for t, handler in HANDLERS.items() if handler is None}
    assert ignored == {EventType.RUN_STARTED, EventType.PHASE_FINISHED}


def test_each_human_handler_is_a_method_of_the_renderer_named_for_its_type() -> None:
    for kind, handler in HANDLERS.items():
        if handler is not None:
            assert handler is getattr(HumanRenderer, f"on_{kind.value}")


def test_an_event_made_with_its_type_as_a_string_holds_the_enum() -> None:
    event = Event(type="run_started", seq=1, ts="t", run_id="r", op="o", data={})  # type: ignore[arg-type]
    assert event.type is EventType.RUN_STARTED
    with pytest.raises(ValueError, match="unknown event type 'run_begun'"):
        Event(type="run_begun", seq=1, ts="t", run_id="r", op="o", data={})  # type: ignore[arg-type]
