"""The human view on a real terminal: a live line with each running step's elapsed time,
labels as wide as the terminal, finished lines written once, and the colour variables
(NO_COLOR, FORCE_COLOR, TERM=dumb). Off a terminal the view is plain lines."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import MakeProject, chant_subprocess

CHANT = str(Path(sys.executable).with_name("chant"))  # the real console script
SGR = re.compile(r"\x1b\[[0-9;]*m")
LIVE = re.compile(r"▸ (\S+) … (\d+)s")

OPS = """
from chant import Op, phase, shell

silent = Op(name="silent", phases=[
    phase("Wait", [shell("sleep 3")]),
    phase("Then", [shell("echo done")]),
])
chatty = Op(name="chatty", phases=[phase("Talk", [
    shell("for i in 1 2 3; do echo line-$i; sleep 0.8; done"),
    shell("echo after"),
])])
brief = Op(name="brief", phases=[phase("Wait", [shell("sleep 1.6")])])
pair = Op(name="pair", phases=[
    phase("Both", [shell("sleep 2", id="left"), shell("sleep 3", id="right")], parallel=True),
])
wide = Op(name="wide", phases=[phase("P", [shell("echo " + "a" * 200)])])
kanji = Op(name="kanji", phases=[phase("P", [shell("echo " + "日本語" * 40)])])
stuck = Op(
    name="stuck",
    phases=[phase("Wait", [shell("sleep 30")])],
    on_failure=[phase("Undo", [shell("echo undone")])],
)
"""


@dataclass
class Screen:
    raw: str
    """Everything chant wrote to the terminal."""
    rows: list[str]
    """What the terminal shows at the end, scrollback included, colour taken out."""
    code: int


def emulate(raw: str, cols: int) -> list[str]:
    """The rows a terminal ``cols`` wide shows for ``raw``: CR returns to the row's start,
    LF goes down, text overwrites, long rows wrap, SGR colour takes no room. (chant's view
    writes nothing else; any other escape would be left in and show.)"""
    rows: list[list[str]] = [[]]
    row = col = 0
    for token in re.findall(r"\x1b\[[0-9;]*m|.", raw, re.S):
        if token.startswith("\x1b["):
            continue
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            col = 0
            if row == len(rows):
                rows.append([])
        else:
            width = 2 if unicodedata.east_asian_width(token) in "WF" else 1
            if col + width > cols:
                row, col = row + 1, 0
                if row == len(rows):
                    rows.append([])
            line = rows[row]
            line.extend(" " * (col + width - len(line)))
            line[col] = token
            if width == 2:
                line[col + 1] = ""
            col += width
    shown = ["".join(r).rstrip() for r in rows]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def on_terminal(
    root: Path,
    *args: str,
    cols: int = 80,
    env: dict[str, str] | None = None,
    ctrl_c_after: bytes | None = None,
) -> Screen:
    """Run the real ``chant`` on a new pty (its controlling terminal, as in a shell) and
    read everything it writes until it ends."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
    full_env.pop("COLUMNS", None)
    full_env.pop("LINES", None)
    for name, value in (env or {}).items():
        full_env[name] = value

    def session() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [CHANT, *args],
        cwd=root,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        preexec_fn=session,
    )
    os.close(slave)
    got = b""
    sent = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if not chunk:
                    break
                got += chunk
            if ctrl_c_after is not None and not sent and ctrl_c_after in got:
                os.write(master, b"\x03")  # through the line discipline, as a keyboard does
                sent = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        os.close(master)
    raw = got.decode("utf-8").replace("\r\n", "\n")
    return Screen(raw=raw, rows=emulate(raw, cols), code=code)


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    return make_project({"ops/live.op.py": OPS})


def piped(root: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    ran = chant_subprocess("run", *args, "--local", cwd=root, env=env)
    assert ran.code == 0, ran.err
    return ran.out.splitlines()


def without_durations(lines: list[str]) -> list[str]:
    return [re.sub(r"\(\d[^)]*\)$", "(…)", re.sub(r"in \S+$", "in …", ln)) for ln in lines]


def test_a_silent_step_shows_its_elapsed_time_and_it_advances(project: Path) -> None:
    screen = on_terminal(project, "run", "silent", "--local")
    assert screen.code == 0, screen.raw
    shown = [(step, int(s)) for step, s in LIVE.findall(SGR.sub("", screen.raw))]
    seconds = [s for step, s in shown if step == "wait.1"]
    # Shown from its first second on, each value once, in order: redrawn only on change.
    assert seconds[:2] == [1, 2], shown
    assert seconds == sorted(set(seconds)), shown
    assert all(step == "wait.1" for step, _ in shown), shown  # `echo done` was quick


def test_the_live_line_is_redrawn_in_place_and_finished_lines_are_written_once(
    project: Path,
) -> None:
    screen = on_terminal(project, "run", "chatty", "--local")
    assert screen.code == 0, screen.raw
    assert LIVE.search(screen.raw), screen.raw  # the first step ran long enough to show it
    # The live line is drawn with CR and spaces only: no cursor movement, no hidden cursor.
    assert SGR.sub("", screen.raw).count("\x1b") == 0
    # The terminal ends up showing exactly what a pipe gets: every line once, in order,
    # and nothing of the live line left.
    expected = piped(project, "chatty")
    assert without_durations(screen.rows) == without_durations(expected), screen.rows
    # Each finished line was written once and never rewritten.
    for line in (ln for ln in expected if ln.startswith("  ✓")):
        head = line.rsplit(" (", 1)[0]
        assert SGR.sub("", screen.raw).count(head + " (") == 1, head


def test_parallel_steps_share_the_live_line(project: Path) -> None:
    screen = on_terminal(project, "run", "pair", "--local")
    assert screen.code == 0, screen.raw
    plain = SGR.sub("", screen.raw)
    assert re.search(r"▸ left … 1s   ▸ right … 1s", plain), plain
    # right sleeps a second longer, so the two finish in one order on both outputs.
    assert without_durations(screen.rows) == without_durations(piped(project, "pair"))


def test_a_label_takes_the_terminals_width(project: Path) -> None:
    screen = on_terminal(project, "run", "wide", "--local", cols=120)
    assert screen.code == 0, screen.raw
    started = next(r for r in screen.rows if r.startswith("  ▸ p.1  echo "))
    finished = next(r for r in screen.rows if r.startswith("  ✓ p.1  echo "))
    # 119 columns less room for " (12.3s)": the finished line fits on one row too.
    assert len(started) == 119 - len(" (12.3s)") and started.endswith("a…"), started
    assert len(finished) <= 119, finished
    # COLUMNS wins over the terminal's size, as with shutil.get_terminal_size.
    narrow = on_terminal(project, "run", "wide", "--local", cols=120, env={"COLUMNS": "100"})
    assert len(next(r for r in narrow.rows if r.startswith("  ▸ p.1"))) == 99 - 8
    # Off a terminal, labels are cut at 72 characters as always.
    line = next(ln for ln in piped(project, "wide") if ln.startswith("  ▸ p.1"))
    assert line == "  ▸ p.1  echo " + "a" * 66 + "…"


def test_a_label_of_wide_characters_is_cut_to_the_terminals_columns(project: Path) -> None:
    screen = on_terminal(project, "run", "kanji", "--local", cols=80)
    assert screen.code == 0, screen.raw
    # 日 takes two columns: the description gets 79 - len("  ✓ p.1  ") - len(" (12.3s)")
    # = 62 columns, not 62 characters ("echo " and 28 of them and "…"), so the label
    # does not wrap and the finished line fits on one row.
    started = next(r for r in screen.rows if r.startswith("  ▸ p.1  echo "))
    assert started == "  ▸ p.1  echo " + ("日本語" * 10)[:28] + "…", screen.rows
    finished = next(r for r in screen.rows if r.startswith("  ✓ p.1  echo "))
    assert re.fullmatch(r"  ✓ p\.1  echo (日本語)+日… \(\d+ms\)", finished), screen.rows
    assert screen.rows[screen.rows.index(finished) + 1].startswith('Op "kanji" completed')


@pytest.mark.parametrize(
    ("env", "colour"),
    [
        ({}, True),
        ({"NO_COLOR": "1"}, False),
        ({"NO_COLOR": ""}, True),  # no-color.org: an empty value does not disable colour
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        ({"TERM": "dumb"}, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True),
    ],
    ids=["default", "no-color", "empty-no-color", "no-color-beats-force", "dumb", "dumb-forced"],
)
def test_colour_variables_on_a_terminal(project: Path, env: dict[str, str], colour: bool) -> None:
    screen = on_terminal(project, "run", "brief", "--local", env=env)
    assert screen.code == 0, screen.raw
    assert bool(SGR.search(screen.raw)) is colour, screen.raw
    # TERM=dumb: no live redraw either (a dumb terminal may not honour CR).
    live = bool(LIVE.search(SGR.sub("", screen.raw)))
    assert live is (env.get("TERM") != "dumb"), screen.raw
    if env.get("TERM") == "dumb":
        assert "\r" not in screen.raw


@pytest.mark.parametrize(
    ("env", "colour"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False)],
    ids=["plain", "forced", "empty-force"],
)
def test_off_a_terminal_only_force_color_adds_colour_and_nothing_is_live(
    project: Path, env: dict[str, str], colour: bool
) -> None:
    ran = chant_subprocess("run", "brief", "--local", cwd=project, env=env)
    assert ran.code == 0, ran.err
    assert bool(SGR.search(ran.out)) is colour, ran.out
    assert "\r" not in ran.out and "…" not in ran.out
    if colour:
        assert "\x1b[32m✓\x1b[0m wait.1  sleep 1.6 (" in ran.out
        plain = without_durations(SGR.sub("", ran.out).splitlines())
        assert plain == without_durations(piped(project, "brief"))


def test_ctrl_c_clears_the_live_line_and_leaves_the_terminal_usable(project: Path) -> None:
    # The live line is only text: nothing to restore but the row it is on. Ctrl-C's notice
    # and the lines after it start at the left edge, with no remnant of the timer.
    screen = on_terminal(project, "run", "stuck", "--local", ctrl_c_after="… 2s".encode())
    assert screen.code == 130, screen.raw
    rows = screen.rows
    notice = next(r for r in rows if "chant: interrupted" in r)
    assert notice.startswith("chant: interrupted — stopping running steps"), rows
    assert rows[-1].startswith('Op "stuck" interrupted after'), rows
    assert not any(LIVE.search(r) for r in rows), rows
    assert "\x1b[?25l" not in screen.raw  # the cursor was never hidden


def test_on_temporal_the_live_line_counts_from_the_steps_start(
    make_project: MakeProject, temporal_server
) -> None:
    queue = f"live-{os.getpid()}-{time.time_ns()}"
    root = make_project({"ops/live.op.py": OPS, "chant.toml": temporal_server.toml(queue)})
    screen = on_terminal(root, "run", "silent", "--temporal")
    assert screen.code == 0, screen.raw
    seconds = [int(s) for step, s in LIVE.findall(SGR.sub("", screen.raw)) if step == "wait.1"]
    assert seconds and seconds == sorted(set(seconds)) and seconds[-1] >= 2, screen.raw
    assert not any(LIVE.search(r) for r in screen.rows), screen.rows
    assert screen.rows[-1].startswith('Op "silent" completed in'), screen.rows
