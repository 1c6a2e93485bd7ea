"""Long-lived ``chant`` processes for the Temporal tests: started in a session of their
own, output in files, stopped (with their process group) by the test that made them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest


class Chant:
    """A long-lived ``python -m chant ARGS`` in its own session, output in files."""

    def __init__(self, *args: str, cwd: Path, name: str) -> None:
        logs = cwd / ".logs"
        logs.mkdir(exist_ok=True)
        self.out, self.err = logs / f"{name}.out", logs / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chant", *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def wait(self, seconds: float) -> int:
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"chant (pid {self.pid}) still runs after {seconds}s\n"
                f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr()}"
            )

    def wait_stderr(self, text: str, seconds: float = 20) -> None:
        until(lambda: text in self.stderr(), seconds, f"{text!r} on stderr", self)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the whole process group if anything of it remains."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        if group_alive(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()


def group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is in group ``pgid`` (which, having members,
    cannot have been reused by another process)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def until(check: Callable[[], bool], seconds: float, what: str, proc: Chant | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if proc is not None and proc.proc.poll() is not None:
            pytest.fail(
                f"waiting for {what}: chant exited {proc.proc.returncode}\n"
                f"stdout:\n{proc.stdout()}\nstderr:\n{proc.stderr()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds}s")
        time.sleep(0.05)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
