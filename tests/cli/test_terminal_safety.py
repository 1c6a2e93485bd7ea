"""Step output cannot act on the terminal: in the human view every control character and
invisible or bidi format character of step output, errors and outcomes is shown as an
escape, step output is always indented, JSON escapes it all, and after Ctrl-C the
terminal is as it was."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from chant.render import json_text, terminal_safe
from conftest import MakeProject, Ran, chant_subprocess, wait_gone

# (what it is, what the step prints between "before" and "after", what the human view shows)
HOSTILE = [
    ("clear-screen", "\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
    ("clear-line", "\x1b[2K\x1b[1G", "\\x1b[2K\\x1b[1G"),
    ("hide-cursor", "\x1b[?25l", "\\x1b[?25l"),
    ("alternate-screen", "\x1b[?1049h", "\\x1b[?1049h"),
    ("move-cursor", "\x1b[10;1H", "\\x1b[10;1H"),
    ("cursor-up", "\x1b[3A", "\\x1b[3A"),
    ("save-restore-cursor", "\x1b7\x1b8", "\\x1b7\\x1b8"),
    ("reset-terminal", "\x1bc", "\\x1bc"),
    ("osc-title-bel", "\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    ("osc-title-st", "\x1b]2;pwned\x1b\\", "\\x1b]2;pwned\\x1b\\"),
    (
        "osc-hyperlink",
        "\x1b]8;;https://evil.example\x1b\\x",
        "\\x1b]8;;https://evil.example\\x1b\\x",
    ),
    ("osc-clipboard", "\x1b]52;c;cm0gLXJmIH4=\x07", "\\x1b]52;c;cm0gLXJmIH4=\\x07"),
    ("dcs", "\x1bP+q544e\x1b\\", "\\x1bP+q544e\\x1b\\"),
    ("lone-esc", "\x1b", "\\x1b"),
    ("bell", "\x07", "\\x07"),
    ("backspace", "\x08\x08\x08", "\\x08\\x08\\x08"),
    ("carriage-return", "\r", "\\r"),
    ("newline-and-fake-line", '\nOp "x" completed in 1s', '\\nOp "x" completed in 1s'),
    ("nul", "\x00", "\\x00"),
    ("vt-ff", "\x0b\x0c", "\\x0b\\x0c"),
    ("del", "\x7f", "\\x7f"),
    ("c1-csi", "\x9b2J", "\\x9b2J"),
    ("c1-osc", "\x9d0;t\x9c", "\\x9d0;t\\x9c"),
    ("c1-nel", "\x85", "\\x85"),
    ("rlo", "\u202egnp.exe", "\\u202egnp.exe"),
    ("lre-pdf", "\u202ax\u202c", "\\u202ax\\u202c"),
    ("isolates", "\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
    ("marks", "\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),
    ("zero-width-space", "\u200b\ufeff", "\\u200b\\ufeff"),
    ("line-separator", "\u2028\u2029", "\\u2028\\u2029"),
    ("tag-characters", "\U000e0041\U000e0042", "\\U000e0041\\U000e0042"),
    ("sgr-colour", "\x1b[31;1mred\x1b[0m", "red"),  # colour is dropped when colour is off
    ("sgr-conceal", "\x1b[8mhidden", "hidden"),
    ("sgr-with-private-marker", "\x1b[?31m", "\\x1b[?31m"),
]
IDS = [name for name, _, _ in HOSTILE]

# Independent of chant's own list: what must never reach a terminal raw.
RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2028\u2029"
    "\u2060-\u206f\ufeff\U000e0000-\U000e007f]"
)
CHANTS_OWN = re.compile(r'^(\[phase\] |\[outcome\] |\[compensation\] |Op ")')

ACTIVITIES = """
from pathlib import Path
from chant import activity


@activity
def emit(ctx, path: str, fail: bool = False) -> dict:
    text = Path(path).read_bytes().decode("utf-8")
    ctx.log(text)
    if fail:
        raise RuntimeError(text)
    return {"text": text}
"""
OPS = """
from chant import Op, Outcome, Profile, Retry, activity, phase, shell

ONCE = Profile(retry=Retry(max_attempts=1))

hostile = Op(name="hostile", phases=[phase("Emit", [
    activity("emit", path="payload.txt", outcome=Outcome("Shown", "text")),
])])
hostile_fail = Op(name="hostile-fail", phases=[phase("Emit", [
    activity("emit", path="payload.txt", fail=True, profile=ONCE),
])])
hostile_shell = Op(name="hostile-shell", phases=[phase("Emit", [
    shell("cat payload.txt; cat payload.txt >&2", outcome=Outcome("Shown", "stdout")),
    shell("cat payload.txt", id="twin"),
], parallel=True)])
"""
TOML = '[project]\nops = ["ops"]\nactivities = ["activities"]\n'


def make(make_project: MakeProject, payload: str, toml: str = TOML) -> Path:
    root = make_project({"chant.toml": toml, "activities.py": ACTIVITIES, "ops/h.op.py": OPS})
    (root / "payload.txt").write_text(f"before{payload}after", encoding="utf-8")
    return root


def check_terminal_safe(out: str, op: str) -> list[str]:
    """No raw control or format character; only chant's own lines start flush-left, and
    the last of them is the single final line. Returns the lines."""
    assert RAW.search(out) is None, repr(RAW.search(out))
    lines = out.splitlines()
    flush_left = [ln for ln in lines if not ln.startswith(" ")]
    assert all(CHANTS_OWN.match(ln) for ln in flush_left), flush_left
    finals = [ln for ln in lines if ln.startswith('Op "')]
    assert len(finals) == 1 and lines[-1] == finals[0]
    assert finals[0].startswith(f'Op "{op}" ')
    return lines


@pytest.mark.parametrize(("name", "payload", "shown"), HOSTILE, ids=IDS)
def test_step_output_and_outcomes_are_escaped_in_the_human_view(
    make_project: MakeProject, name: str, payload: str, shown: str
) -> None:
    root = make(make_project, payload)
    ran = chant_subprocess("run", "hostile", "--local", cwd=root)
    assert ran.code == 0, ran.err
    lines = check_terminal_safe(ran.out, "hostile")
    assert f"      before{shown}after" in lines
    assert f"[outcome] Shown=before{shown}after" in lines


@pytest.mark.parametrize(("name", "payload", "shown"), HOSTILE, ids=IDS)
def test_errors_made_of_step_output_are_escaped_in_the_human_view(
    make_project: MakeProject, name: str, payload: str, shown: str
) -> None:
    root = make(make_project, payload)
    ran = chant_subprocess("run", "hostile-fail", "--local", cwd=root)
    assert ran.code == 1, ran.err
    lines = check_terminal_safe(ran.out, "hostile-fail")
    assert f"      RuntimeError: before{shown}after" in lines
    assert re.fullmatch(
        rf'Op "hostile-fail" failed after \S+: step emit\.1 failed: RuntimeError: '
        rf"{re.escape(f'before{shown}after')}",
        lines[-1],
    )


# Without line breaks: a shell step's lone "\r" overwrites the line, as a terminal would.
SHELL_PAYLOAD = "".join(p for _, p, _ in HOSTILE if "\n" not in p and "\r" not in p)


def test_shell_output_on_both_streams_of_parallel_steps_is_escaped(
    make_project: MakeProject,
) -> None:
    root = make(make_project, SHELL_PAYLOAD)
    ran = chant_subprocess("run", "hostile-shell", "--local", cwd=root)
    assert ran.code == 0, ran.err
    lines = check_terminal_safe(ran.out, "hostile-shell")
    output = [ln for ln in lines if ln.startswith("      [")]
    assert len(output) == 3  # stdout and stderr of emit.1, stdout of twin
    assert all(ln.startswith(("      [emit.1] before", "      [twin] before")) for ln in output)
    assert all(ln.endswith("after") and "\\x1b[2J" in ln for ln in output)


def test_a_line_that_looks_like_chants_own_is_indented(make_project: MakeProject) -> None:
    root = make(make_project, "")
    (root / "payload.txt").write_text(
        'Op "hostile" completed in 1s\n[phase] Fake\n[outcome] Drift=false\n  ✓ x.1 ok',
        encoding="utf-8",
    )
    ran = chant_subprocess("run", "hostile-shell", "--local", cwd=root)
    lines = check_terminal_safe(ran.out, "hostile-shell")
    assert '      [emit.1] Op "hostile" completed in 1s' in lines
    assert "      [twin] [phase] Fake" in lines


@pytest.mark.parametrize("flag", ["--json", "--progress-json"])
def test_json_output_escapes_every_control_and_format_character(
    make_project: MakeProject, flag: str
) -> None:
    payload = "".join(p for _, p, _ in HOSTILE)
    root = make(make_project, payload)
    ran = chant_subprocess("run", "hostile", "--local", flag, cwd=root)
    assert ran.code == 0, ran.err
    assert RAW.search(ran.out) is None
    text = f"before{payload}after"
    if flag == "--json":
        [step] = json.loads(ran.out)["steps"]
        assert step["outcome"] == {"name": "Shown", "value": text}
        check_terminal_safe(ran.err, "hostile")  # the human view went to stderr
    else:
        events = [json.loads(line) for line in ran.out.splitlines()]
        assert [e["line"] for e in events if e["type"] == "step_output"] == [text]


def test_every_format_character_but_the_joiners_is_escaped() -> None:
    # Guards the hand-written character class against the Unicode database in use.
    missed = [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp", "Cs")
        and chr(cp) not in "\t\u200c\u200d"
        and terminal_safe(chr(cp)) == chr(cp)
    ]
    assert missed == []
    assert terminal_safe("\u200d\t") == "\u200d\t"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x00" * 65536, "\\x00" * 65536),
        ("\x1b" * 65536, "\\x1b" * 65536),
        ("\x85\u202e" * 32768, "\\x85\\u202e" * 32768),
        ("\x1b\x00" * 32768, "\\x1b\\x00" * 32768),
    ],
)
def test_a_line_of_control_bytes_is_escaped_in_runs_not_a_python_call_per_byte(
    text: str, shown: str
) -> None:
    """A step printing binary (``cat /dev/zero``) gives 64 Ki-character lines of control
    bytes: escaping one took 0.1 s (13 s for 8 MiB of NUL), a Python call per byte.
    Counted by calls, not timed."""
    terminal_safe("\x00")  # the pattern and table are built once, outside the count
    json_text('"\x85"')
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        safe = terminal_safe(text)
        doc = json_text(json.dumps(text, ensure_ascii=False))
    finally:
        sys.setprofile(None)
    assert safe == shown
    assert json.loads(doc) == text and RAW.search(doc) is None
    assert calls < 100


def test_json_text_reads_back_equal_and_holds_no_raw_control() -> None:
    value = "é✓ " + "".join(p for _, p, _ in HOSTILE) + "\ud800"
    doc = json_text(json.dumps({"k": value}, ensure_ascii=False))
    assert RAW.search(doc) is None
    assert json.loads(doc) == {"k": value}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\x1b[31mred\x1b[0m"),
        ("\x1b[1;38;5;8mgrey", "\x1b[1;38;5;8mgrey\x1b[0m"),
        ("\x1b[38;2;8;8;8mrgb", "\x1b[38;2;8;8;8mrgb\x1b[0m"),
        ("\x1b[8mhidden", "\\x1b[8mhidden"),
        ("\x1b[1;08mhidden", "\\x1b[1;08mhidden"),
        ("\x1b[2J\x1b[32mok", "\\x1b[2J\x1b[32mok\x1b[0m"),
        ("\x1b[" + "1;" * 40 + "m", "\\x1b[" + "1;" * 40 + "m"),
    ],
)
def test_on_a_colour_terminal_only_safe_colour_is_kept_and_always_reset(
    text: str, shown: str
) -> None:
    assert terminal_safe(text, colour=True) == shown


# --- on a real terminal -------------------------------------------------------------------

PTY_OPS = """
from chant import Op, phase, shell

slow = Op(
    name="slow",
    phases=[phase("Wait", [shell("python3 tty_hostile.py {tty}; echo step-$((1+1)); sleep 30")])],
    on_failure=[phase("Undo", [shell("printf '\\\\033[?25l\\\\033[31mundo\\\\n'")])],
)
"""
# Steps run in sessions of their own, without a controlling terminal; one that opens
# chant's terminal by its path can still change its settings.
TTY_HOSTILE = r"""
import os, termios, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
attrs = termios.tcgetattr(fd)
attrs[3] &= ~(termios.ECHO | termios.ICANON)
termios.tcsetattr(fd, termios.TCSANOW, attrs)
sys.stdout.write("\x1b[?25l\x1b]0;pwned\x07\x1b[2J\x1b[31mstill red")
"""


def read_until(fd: int, needle: bytes, seconds: float) -> bytes:
    got = b""
    deadline = time.monotonic() + seconds
    while needle not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            got += chunk
    return got


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    master, slave = pty.openpty()
    termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(slave))
    yield master, slave
    for fd in (master, slave):
        os.close(fd)


def run_on_terminal(root: Path, slave: int, mode: str) -> subprocess.Popen[bytes]:
    """``chant run slow MODE`` with the pty as its controlling terminal, as in a shell."""

    def session() -> None:
        os.setsid()
        import fcntl

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "chant", "run", "slow", mode],
        cwd=root,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        preexec_fn=session,
    )


def test_after_ctrl_c_the_terminal_is_as_it_was(
    make_project: MakeProject, terminal: tuple[int, int]
) -> None:
    master, slave = terminal
    ops = PTY_OPS.replace("{tty}", os.ttyname(slave))
    root = make_project({"ops/slow.op.py": ops, "tty_hostile.py": TTY_HOSTILE})
    before = termios.tcgetattr(slave)

    proc = run_on_terminal(root, slave, "--local")
    try:
        seen = read_until(master, b"step-2", 30)
        assert b"step-2" in seen, seen
        assert termios.tcgetattr(slave)[3] & termios.ECHO == 0, seen  # the step changed it
        os.write(master, b"\x03")  # Ctrl-C, through the terminal's line discipline
        seen += read_until(master, b'Op "slow" interrupted', 30)
        assert proc.wait(timeout=30) == 130
        seen += read_until(master, b"\0", 0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = seen.decode("utf-8")
    assert termios.tcgetattr(slave) == before
    # Colour is on (a terminal), and it is the only escape sequence that got through.
    assert set(re.findall(r"\x1b(.)", out)) == {"["}
    assert re.sub(r"\x1b\[[0-9;]*m", "", out).count("\x1b") == 0
    sgr = re.findall(r"\x1b\[[0-9;]*m", out)
    assert sgr and sgr[-1] == "\x1b[0m"
    for line in out.replace("\r\n", "\n").splitlines():
        opened = re.findall(r"\x1b\[[0-9;]*m", line)
        assert not opened or opened[-1] == "\x1b[0m", repr(line)  # no colour outlives a line
    assert "\\x1b[?25l\\x1b]0;pwned\\x07\\x1b[2J\x1b[31mstill redstep-2\x1b[0m" in out, out
    assert "\\x1b[?25l\x1b[31mundo\x1b[0m" in out
    assert "chant: interrupted" in out
    assert wait_gone(proc.pid)


# --- Temporal mode -------------------------------------------------------------------------


DETACH_OPS = """
from chant import Op, phase, shell

slow = Op(
    name="slow",
    phases=[phase("Wait", [shell("python3 tty_hostile.py {tty}; echo step-$((1+1)); sleep 30")])],
    on_failure=[phase("Undo", [shell("echo undoing; sleep 30")])],
)
"""


def test_after_detaching_from_a_temporal_run_the_terminal_is_as_it_was(
    make_project: MakeProject, terminal: tuple[int, int], temporal_server
) -> None:
    # The first Ctrl-C cancels the run; the second detaches while on_failure still runs,
    # so no Op-finished event comes: the terminal is put back when the command ends.
    master, slave = terminal
    queue = f"detach-{os.getpid()}-{time.time_ns()}"
    root = make_project(
        {
            "chant.toml": '[project]\nops = ["ops"]\n' + temporal_server.toml(queue),
            "ops/slow.op.py": DETACH_OPS.replace("{tty}", os.ttyname(slave)),
            "tty_hostile.py": TTY_HOSTILE,
        }
    )
    before = termios.tcgetattr(slave)

    proc = run_on_terminal(root, slave, "--temporal")
    try:
        seen = read_until(master, b"step-2", 60)
        assert b"step-2" in seen, seen
        assert termios.tcgetattr(slave)[3] & termios.ECHO == 0, seen  # the step changed it
        os.write(master, b"\x03")
        seen += read_until(master, b"undoing", 60)
        assert b"undoing" in seen, seen
        os.write(master, b"\x03")
        assert proc.wait(timeout=60) == 130
        seen += read_until(master, b"\0", 0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"detached" in seen, seen
    assert termios.tcgetattr(slave) == before
    assert wait_gone(proc.pid)


def test_temporal_runs_escape_step_output_errors_and_outcomes_the_same_way(
    make_project: MakeProject, temporal_server
) -> None:
    shown = "".join(s for _, _, s in HOSTILE)
    payload = "".join(p for _, p, _ in HOSTILE)
    root = make(
        make_project,
        payload,
        toml=TOML + temporal_server.toml(f"tty-{os.getpid()}-{time.time_ns()}"),
    )
    ok: Ran = chant_subprocess("run", "hostile", "--temporal", cwd=root, timeout=120)
    assert ok.code == 0, ok.err
    lines = check_terminal_safe(ok.out, "hostile")
    assert f"      before{shown}after" in lines
    assert f"[outcome] Shown=before{shown}after" in lines

    failed = chant_subprocess("run", "hostile-fail", "--temporal", cwd=root, timeout=120)
    assert failed.code == 1, failed.err
    lines = check_terminal_safe(failed.out, "hostile-fail")
    assert f"      RuntimeError: before{shown}after" in lines
    assert lines[-1].endswith(f"RuntimeError: before{shown}after")

    events = chant_subprocess("run", "hostile", "--temporal", "--progress-json", cwd=root)
    assert events.code == 0, events.err
    assert RAW.search(events.out) is None

    # chant status and chant history show the same values, escaped the same way.
    status = chant_subprocess("status", "hostile", cwd=root)
    assert status.code == 0, status.err
    assert RAW.search(status.out) is None
    assert f"  outcome  Shown=before{shown}after" in status.out.splitlines()
    status = chant_subprocess("status", "hostile", "--json", cwd=root)
    assert RAW.search(status.out) is None
    assert json.loads(status.out)["outcomes"] == {"Shown": f"before{payload}after"}
    history = chant_subprocess("history", "hostile", cwd=root)
    assert history.code == 0, history.err
    assert RAW.search(history.out) is None
    assert f"Shown=before{shown}after" in history.out


WRAP_OPS = """
from chant import Op, phase, shell

wide = Op(name="wide", phases=[phase("P", [shell("cat spoof.txt")])])
"""


@pytest.mark.parametrize("pad", ["x" * 73, "x" * 74, "日本" * 18 + "x", "é" * 73])
def test_on_a_terminal_a_wrapped_line_never_starts_a_row_flush_left(
    make_project: MakeProject, terminal: tuple[int, int], pad: str
) -> None:
    # 6 columns of indent + the padding fill an 80-column row; a terminal would put the
    # fake line at the start of the next row, where chant's own lines are.
    master, slave = terminal
    fcntl_ioctl_winsize(slave, rows=24, cols=80)
    root = make_project({"ops/wide.op.py": WRAP_OPS})
    (root / "spoof.txt").write_text(pad + 'Op "wide" completed in 1s\n', encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chant", "run", "wide", "--local"],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert proc.wait(timeout=30) == 0
        out = read_until(master, b'Op "wide" completed in', 10).decode()
        out += read_until(master, b"\0", 0.3).decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows = [row for line in out.split("\r\n") for row in screen_rows(line, 80)]
    flush_left = [r for r in rows if r and not r.startswith(" ")]
    assert [r for r in flush_left if r.startswith('Op "')] == [flush_left[-1]]
    assert any(r.startswith("      ") and 'Op "wide" completed in 1s' in r for r in rows)


def fcntl_ioctl_winsize(fd: int, *, rows: int, cols: int) -> None:
    import fcntl
    import struct

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def screen_rows(line: str, cols: int) -> list[str]:
    """How a terminal ``cols`` wide shows ``line``: cut into rows as it soft-wraps."""
    rows, row, used = [], "", 0
    for char in line:
        width = 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used + width > cols:
            rows.append(row)
            row, used = "", 0
        row += char
        used += width
    rows.append(row)
    return rows


# --- user text elsewhere ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload", "shown"), HOSTILE, ids=IDS)
def test_an_overview_is_escaped_in_chant_list(
    make_project: MakeProject, name: str, payload: str, shown: str
) -> None:
    overview = json.dumps(f"before{payload}after", ensure_ascii=False)
    root = make_project(
        {
            "ops/x.op.py": "from chant import Op, phase, shell\n"
            f'x = Op(name="x", overview={overview}, phases=[phase("P", [shell("true")])])\n'
        }
    )
    ran = chant_subprocess("list", cwd=root)
    assert ran.code == 0, ran.err
    assert RAW.search(ran.out) is None
    assert ran.out.splitlines()[1].endswith(f"  before{shown}after")


def test_an_error_naming_a_hostile_file_name_is_escaped(make_project: MakeProject) -> None:
    root = make_project({"ops/e\x1b[2J\u202e.op.py": "x = 1 / 0\n"})
    ran = chant_subprocess("build", cwd=root)
    assert ran.code == 2
    assert RAW.search(ran.err) is None
    assert "ops/e\\x1b[2J\\u202e.op.py:1: ZeroDivisionError" in ran.err
