"""Step output in batches: the lines of one read reach the emitter together, and a
batch means exactly the events it stands for — the same numbers, masking and bytes as
when each line is emitted on its own, for every renderer and for any other sink."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import random
import struct
import termios
from typing import Any

import pytest

from chant.activities.process import run_command
from chant.activities.registry import ActivityContext
from chant.activities.streams import LINE_LIMIT, Stream, Tail
from chant.events import Emitter, Event, EventType, Masker, OutputLines
from chant.render.human import HumanRenderer
from chant.render.jsonl import JsonLinesRenderer

SECRET = "hunter2-secret"
LINES = [
    "plain",
    "",
    "tab\there",
    "ünïcödé — ✓ 日本",
    "bell\x07 esc\x1b[31mred\x1b[0m cr\r and \x1b]0;title\x07",
    "bidi \u202e evil \u2028 sep \ud800 surrogate",
    f"has {SECRET} in it",
    "emoji 🎉 and \x7f del \x9b c1",
    "  leading and trailing  ",
]


def emitter(sinks: list[Any], secrets: tuple[str, ...] = (SECRET,), op: str = "dëploy") -> Emitter:
    return Emitter(
        op=op,
        run_id="abc123",
        sinks=sinks,
        masker=Masker(secrets),
        now=lambda: "2026-11-24T01:02:11.498Z",
    )


def one_by_one(emit: Emitter, step: str, stream: str, lines: list[Any]) -> None:
    for line in lines:
        emit(EventType.STEP_OUTPUT, step=step, stream=stream, line=line)


# --- the emitter ----------------------------------------------------------------------


@pytest.mark.parametrize("secrets", [(), (SECRET,), ("in", "e")])
def test_a_batch_is_the_events_of_its_lines_numbered_and_masked_alike(
    secrets: tuple[str, ...],
) -> None:
    single: list[Event] = []
    emit = emitter([single.append], secrets)
    emit(EventType.RUN_STARTED, mode="local", steps=1)
    one_by_one(emit, "build.1", "stdout", LINES)
    batched: list[Event] = []
    emit = emitter([batched.append], secrets)
    emit(EventType.RUN_STARTED, mode="local", steps=1)
    emit.output_lines("build.1", "stdout", LINES)
    emit(EventType.RUN_FINISHED, ok=True)
    assert [e.seq for e in batched] == list(range(1, len(LINES) + 3))
    strip = [(e.type, e.seq, e.run_id, e.op, e.data, e.v) for e in single]
    assert [(e.type, e.seq, e.run_id, e.op, e.data, e.v) for e in batched[:-1]] == strip
    if SECRET in secrets:
        assert all(SECRET not in str(e.data) for e in batched)


def test_a_sink_that_takes_batches_gets_one_and_others_get_each_event_in_order() -> None:
    class Batches:
        def __init__(self) -> None:
            self.batches: list[OutputLines] = []

        def __call__(self, event: Event) -> None:
            raise AssertionError("a batch sink gets step output as batches")

        def output_lines(self, batch: OutputLines) -> None:
            self.batches.append(batch)

    batches, events = Batches(), list[Event]()
    emit = emitter([batches, events.append])
    emit.output_lines("s.1", "stderr", ["a", "b", "c"])
    emit.output_lines("s.1", "stdout", [])  # nothing to emit: no event, no number
    emit.output_lines("s.1", "stdout", ["d"])
    assert [(b.seq, list(b.lines), b.stream) for b in batches.batches] == [
        (1, ["a", "b", "c"], "stderr"),
        (4, ["d"], "stdout"),
    ]
    assert [(e.seq, e.data["line"], e.data["stream"]) for e in events] == [
        (1, "a", "stderr"),
        (2, "b", "stderr"),
        (3, "c", "stderr"),
        (4, "d", "stdout"),
    ]
    assert emit.seq == 4


def test_an_unknown_type_is_still_refused_without_using_a_number() -> None:
    events: list[Event] = []
    emit = emitter([events.append])
    with pytest.raises(ValueError, match="unknown event type 'step_outptu'"):
        emit("step_outptu", step="s.1", stream="stdout", line="x")
    emit("step_output", step="s.1", stream="stdout", line="x")
    assert [(e.type, e.seq) for e in events] == [(EventType.STEP_OUTPUT, 1)]


# --- renderers: a batch writes the very bytes of its events ----------------------------


def rendered(make: Any, batched: bool, *, stream: str, parallel: bool) -> str:
    out = io.StringIO()
    renderer = make(out)
    emit = emitter([renderer])
    emit(EventType.PHASE_STARTED, phase="P", parallel=parallel, compensation=False, skipped=False)
    odd: list[Any] = [5, {"k": f"v {SECRET}", "n": [1.5]}, None, "\x1b[2Jafter odd"]
    if batched:
        emit.output_lines("build.1", stream, LINES)
        emit.output_lines(f"x{SECRET}", stream, ["tail"])
        emit.output_lines("s.2", stream, odd)  # an activity may emit other JSON
    else:
        one_by_one(emit, "build.1", stream, LINES)
        one_by_one(emit, f"x{SECRET}", stream, ["tail"])
        one_by_one(emit, "s.2", stream, odd)
    return out.getvalue()


MAKERS = {
    "jsonl": JsonLinesRenderer,
    "human": lambda out: HumanRenderer(out, color=False),
    "human-colour": lambda out: HumanRenderer(out, color=True),
}


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
@pytest.mark.parametrize("stream", ["stdout", "stderr", "log"])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_a_renderer_writes_a_batch_as_it_writes_its_events(
    kind: str, stream: str, parallel: bool
) -> None:
    make = MAKERS[kind]
    single = rendered(make, False, stream=stream, parallel=parallel)
    assert rendered(make, True, stream=stream, parallel=parallel) == single
    assert SECRET not in single and "tail" in single
    if kind == "human-colour" and stream == "stderr":
        assert "\x1b[2m" in single


def test_a_batch_on_a_terminal_is_wrapped_as_single_lines_are() -> None:
    shown = []
    for batched in (False, True):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 5, 30, 0, 0))
        with open(slave, "w", encoding="utf-8", closefd=True) as tty:
            renderer = HumanRenderer(tty, color=True)
            emit = emitter([renderer])
            lines = ["x" * 70, "short", "wide 日本語日本語日本語日本語日本語日本語"]
            if batched:
                emit.output_lines("s.1", "stdout", lines)
            else:
                one_by_one(emit, "s.1", "stdout", lines)
            renderer.close()
            os.set_blocking(master, False)
            got = b""
            while True:
                try:
                    got += os.read(master, 65536)
                except BlockingIOError:
                    break
            shown.append(got)
        os.close(master)
    assert shown[0] == shown[1]
    assert shown[1].count(b"\r\n") > 3  # the long lines were wrapped


# --- streams: one read's lines together ---------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def line(self, line: str, stream: str) -> None:
        self.calls.append((stream, [line]))

    def lines(self, lines: list[str], stream: str) -> None:
        self.calls.append((stream, list(lines)))

    def flat(self) -> list[tuple[str, str]]:
        return [(stream, line) for stream, lines in self.calls for line in lines]


def run(cmd: str, *, batches: bool, masker: Masker | None = None) -> tuple[Any, Recorder]:
    rec = Recorder()
    ctx = ActivityContext(
        step_id="s.1",
        attempt=1,
        output=rec.line,
        output_lines=rec.lines if batches else None,
        masker=masker,
    )
    result = asyncio.run(asyncio.wait_for(run_command(ctx, ["/bin/sh", "-c", cmd]), 30))
    return result, rec


def test_the_lines_of_one_read_are_emitted_together_in_order() -> None:
    result, rec = run("seq 50000; echo err >&2", batches=True)
    out = [line for stream, line in rec.flat() if stream == "stdout"]
    assert out == [str(i) for i in range(1, 50001)]
    assert len(rec.calls) < 50000 // 10  # a read of 64 KiB holds thousands of lines
    assert ("stderr", "err") in rec.flat()
    assert result.stdout.endswith("49999\n50000")


@pytest.mark.parametrize(
    "cmd",
    [
        r"printf 'a\rb\r\nprogress 1%%\rprogress 100%%\ndone\r'",
        f"head -c {LINE_LIMIT * 3 + 10} /dev/zero | tr '\\0' x; printf 'y\\nz'",
        f"i=0; while [ $i -lt 3000 ]; do echo 'xx {SECRET} yy'; i=$((i+1)); done",
        f"head -c {LINE_LIMIT - 3} /dev/zero | tr '\\0' a; printf '{SECRET}'; echo b",
        "printf 'half'; sleep 0.1; printf 'line\\nnext\\n'; echo e >&2; printf 'end'",
    ],
)
def test_batches_hold_the_lines_and_the_tail_that_single_lines_do(cmd: str) -> None:
    one, by_line = run(cmd, batches=False, masker=Masker([SECRET]))
    batched, by_read = run(cmd, batches=True, masker=Masker([SECRET]))
    # Each stream in order: how stdout's and stderr's lines interleave is up to the
    # scheduler (two pipes read as they fill), in either mode.
    for stream in ("stdout", "stderr"):
        got = [line for s, line in by_read.flat() if s == stream]
        assert got == [line for s, line in by_line.flat() if s == stream], stream
    assert (batched.stdout, batched.stderr) == (one.stdout, one.stderr)


def kept_one_by_one(lines: list[str], limit: int) -> list[str]:
    """What a tail keeps, as adding each line and then dropping the oldest ones while
    the rest hold ``limit`` characters (a line end each) keeps it."""
    kept: list[str] = []
    size = 0
    for line in lines:
        kept.append(line)
        size += len(line) + 1
        while size - len(kept[0]) - 1 >= limit:
            size -= len(kept.pop(0)) + 1
    return kept


def test_a_tail_extended_by_many_lines_keeps_what_adding_each_keeps() -> None:
    lines = [f"{i:05d}" * (i % 7) + " " * (i % 3) for i in range(3000)] + [""] * 40
    for limit in (1, 10, 1000, 64 * 1024):
        expected = kept_one_by_one(lines, limit)
        for step in (1, 97, 5000):
            tail = Tail(limit)
            for start in range(0, len(lines), step):
                tail.extend(lines[start : start + step])
            assert tail.lines == expected
            assert tail.text() == "\n".join(expected).rstrip()[-limit:]


def fed(chunks: list[str], masker: Masker) -> tuple[list[str], str]:
    """The lines a Stream emits, and its tail, for text arriving in ``chunks``."""
    rec = Recorder()

    async def feed() -> Stream:
        ctx = ActivityContext(step_id="s.1", attempt=1, output=rec.line, masker=masker)
        read, write = os.pipe()
        os.close(write)
        stream = Stream(read, "stdout", ctx)
        for chunk in chunks:
            stream._feed(chunk)
            stream._flush()
        stream.close()
        return stream

    stream = asyncio.run(feed())
    return [line for _, line in rec.flat()], stream.tail.text()


@pytest.mark.parametrize("seed", range(12))
def test_lines_do_not_depend_on_how_the_text_arrives(seed: int) -> None:
    rng = random.Random(seed)
    words = ["a", "bc", "\n", "\n", "\r", "\r\n", SECRET, "x" * 500, "é"]
    text = "".join(rng.choice(words) for _ in range(3000))
    text += "y" * (LINE_LIMIT + rng.randrange(2 * len(SECRET))) + SECRET + "\n" + text
    cuts = sorted(rng.sample(range(1, len(text)), 60))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    masker = Masker([SECRET])
    one_char = fed(list(text), masker)
    assert fed(chunks, masker) == one_char
    assert fed([text], masker) == one_char
    assert all(SECRET not in line for line in one_char[0])
