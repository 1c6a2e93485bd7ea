"""Ctrl-C, SIGTERM, SIGHUP, SIGQUIT and SIGKILL sent to a real ``chant run`` process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import alive, wait_gone

OP = """
from chant import Op, phase, shell

interruptible = Op(
    name="interruptible",
    phases=[
        phase("Work", [shell("sh -c 'sleep 300; :' {tmp}/marker & echo $! > {tmp}/bg.pid; wait")]),
        phase("Later", [shell("touch {tmp}/later-ran")]),
    ],
    on_failure=[
        phase("Undo", [shell("{undo}")]),
        phase("Undo more", [shell("touch {tmp}/undo-more-ran")]),
    ],
)
"""


def start(tmp_path: Path, undo: str) -> subprocess.Popen[str]:
    return run_local(tmp_path, "interruptible", textwrap.dedent(OP).format(tmp=tmp_path, undo=undo))


def run_local(tmp_path: Path, name: str, source: str) -> subprocess.Popen[str]:
    """``chant run NAME --local`` in a new project whose one op file is ``source``."""
    project = tmp_path / "proj"
    (project / "ops").mkdir(parents=True)
    (project / "ops" / "op.op.py").write_text(source)
    return subprocess.Popen(
        [sys.executable, "-m", "chant", "run", name, "--local"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_sigint_stops_the_step_runs_compensation_and_exits_130(tmp_path: Path) -> None:
    proc = start(tmp_path, undo=f"touch {tmp_path}/undo-ran")
    wait_for(tmp_path / "bg.pid", proc)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == 130
    assert (tmp_path / "undo-ran").exists()
    assert (tmp_path / "undo-more-ran").exists()
    assert not (tmp_path / "later-ran").exists()
    assert not alive(int((tmp_path / "bg.pid").read_text()))
    assert "chant: interrupted — stopping running steps, then running on_failure" in err
    assert "[compensation] interrupted — running on_failure phases" in out
    assert 'Op "interruptible" interrupted after' in out
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_sigterm_sighup_and_sigquit_are_handled_like_the_first_ctrl_c(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = start(tmp_path, undo=f"touch {tmp_path}/undo-ran")
    wait_for(tmp_path / "bg.pid", proc)
    proc.send_signal(sig)
    code, out, err = finish(proc)
    assert code == 130
    assert (tmp_path / "undo-ran").exists()
    assert (tmp_path / "undo-more-ran").exists()
    assert not (tmp_path / "later-ran").exists()
    assert not alive(int((tmp_path / "bg.pid").read_text()))
    assert "chant: interrupted — stopping running steps, then running on_failure" in err
    assert 'Op "interruptible" interrupted after' in out
    assert "Traceback" not in err


def test_a_second_sigint_skips_compensation(tmp_path: Path) -> None:
    undo = f"sleep 300 & echo $! > {tmp_path}/undo.pid; wait"
    proc = start(tmp_path, undo=undo)
    wait_for(tmp_path / "bg.pid", proc)
    proc.send_signal(signal.SIGINT)
    wait_for(tmp_path / "undo.pid", proc)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == 130
    assert "chant: interrupted again — stopping now, skipping on_failure" in err
    assert not (tmp_path / "undo-more-ran").exists()
    for pidfile in ("bg.pid", "undo.pid"):
        assert not alive(int((tmp_path / pidfile).read_text()))
    assert "– undo-more.1" in out


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_second_signal_while_a_step_is_being_stopped_still_stops_all_of_it(
    tmp_path: Path, second: signal.Signals
) -> None:
    # The step ignores SIGTERM, so the first Ctrl-C leaves it its grace; the second one
    # comes within that grace, and kills it then rather than abandoning the stop.
    step = (
        f"trap '' TERM INT; echo $$ > {tmp_path}/sh.pid;"
        f" sleep 300 & echo $! > {tmp_path}/bg.pid; wait"
    )
    proc = run_local(
        tmp_path,
        "stubborn",
        "from chant import Op, phase, shell\n"
        f"stubborn = Op(name='stubborn', phases=[phase('Work', [shell({step!r})])])\n",
    )
    wait_for(tmp_path / "bg.pid", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(second)
    code, out, err = finish(proc)
    assert code == 130
    assert err == (
        "chant: interrupted — stopping running steps\n"
        "chant: interrupted again — stopping now, skipping on_failure\n"
    )
    assert 'Op "stubborn" interrupted after ' in out
    for pidfile in ("sh.pid", "bg.pid"):
        assert not alive(int((tmp_path / pidfile).read_text())), pidfile


def test_a_first_sigint_during_on_failure_after_a_failure_says_so_not_again(
    tmp_path: Path,
) -> None:
    source = textwrap.dedent(
        f"""
        from chant import Op, phase, shell

        failing = Op(
            name="failing",
            phases=[phase("Work", [shell("exit 3", profile="policy_check")])],
            on_failure=[
                phase("Undo", [shell("sleep 300 & echo $! > {tmp_path}/undo.pid; wait")]),
                phase("Undo more", [shell("touch {tmp_path}/undo-more-ran")]),
            ],
        )
        """
    )
    proc = run_local(tmp_path, "failing", source)
    wait_for(tmp_path / "undo.pid", proc)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == 130
    # The first Ctrl-C: on_failure was running (for the failed step), so it stops there.
    assert err == "chant: interrupted during on_failure — stopping now, skipping the rest of it\n"
    assert "[compensation] step work.1 failed — running on_failure phases" in out
    assert "– undo-more.1  touch " in out
    assert not (tmp_path / "undo-more-ran").exists()
    assert not alive(int((tmp_path / "undo.pid").read_text()))
    assert 'Op "failing" interrupted after ' in out


def test_no_process_of_the_run_outlives_chant(tmp_path: Path) -> None:
    proc = start(tmp_path, undo="true")
    wait_for(tmp_path / "bg.pid", proc)
    proc.send_signal(signal.SIGINT)
    finish(proc)
    leftovers = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(tmp_path).encode() in cmdline and alive(int(entry)):
                leftovers.append(cmdline)
    assert leftovers == []


KILLED = """
from chant import Op, phase, shell

killed = Op(
    name="killed",
    phases=[
        phase(
            "Work",
            [
                shell("sleep 300 & echo $! > {tmp}/group.pid; wait"),
                shell("setsid sleep 300 >/dev/null 2>&1 & echo $! > {tmp}/setsid.pid; wait"),
                shell("env -i setsid sleep 300 & echo $! > {tmp}/bare.pid; wait"),
                shell("echo $$ > {tmp}/main.pid; exec sleep 300"),
            ],
            parallel=True,
        )
    ],
)
"""


def test_a_sigkilled_local_run_leaves_no_step_process_behind(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "ops").mkdir(parents=True)
    (project / "ops" / "k.op.py").write_text(textwrap.dedent(KILLED).format(tmp=tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chant", "run", "killed", "--local"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    names = ("group", "setsid", "bare", "main")
    try:
        for name in names:
            wait_for(tmp_path / f"{name}.pid", proc)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    pids = {name: int((tmp_path / f"{name}.pid").read_text()) for name in names}
    survivors = {name: pid for name, pid in pids.items() if not wait_gone(pid, 5.0)}
    assert survivors == {}


def test_a_terminal_hang_up_compensates_and_exits_130(tmp_path: Path) -> None:
    """Closing the terminal sends SIGHUP, and writing to it fails from then on (EIO):
    chant must still stop the step, run on_failure and exit 130."""
    import pty

    project = tmp_path / "proj"
    (project / "ops").mkdir(parents=True)
    text = textwrap.dedent(OP).format(tmp=tmp_path, undo=f"sleep 0.3; touch {tmp_path}/undo-ran")
    (project / "ops" / "i.op.py").write_text(text)
    done, status = 0, 0
    pid, fd = pty.fork()
    if pid == 0:  # the child: chant on the terminal, stderr kept in a file
        try:
            os.chdir(project)
            err = os.open(tmp_path / "err.txt", os.O_WRONLY | os.O_CREAT)
            os.dup2(err, 2)
            os.execv(sys.executable, [sys.executable, "-m", "chant", "run", "interruptible"])
        finally:
            os._exit(127)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "bg.pid").exists() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                os.read(fd, 65536)
            time.sleep(0.02)
        assert (tmp_path / "bg.pid").exists(), (tmp_path / "err.txt").read_text()
        time.sleep(0.2)
        os.close(fd)  # hang up
        deadline = time.monotonic() + 20
        done, status = os.waitpid(pid, os.WNOHANG)
        while done == 0:
            assert time.monotonic() < deadline, "chant still runs after the hang-up"
            time.sleep(0.05)
            done, status = os.waitpid(pid, os.WNOHANG)
    finally:
        if done == 0:  # not reaped yet, so the pid is still chant's
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    err = (tmp_path / "err.txt").read_text()
    assert os.waitstatus_to_exitcode(status) == 130, err
    assert (tmp_path / "undo-ran").exists()
    assert not alive(int((tmp_path / "bg.pid").read_text()))
    assert "Traceback" not in err and "internal error" not in err
