"""Shared fixtures: isolated projects, and chant run as a real subprocess or in-process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chant.activities.registry import default_registry
from chant.cli.main import main
from chant.errors import Problem
from chant.events import Event, RunResult
from chant.ir import Op
from chant.local.executor import LocalExecutor
from chant.plan import resolve_op

if TYPE_CHECKING:  # temporal_server imports this module
    from temporal_server import TemporalServer

pytest_plugins = ["temporal_server"]

MakeProject = Callable[..., Path]
"""The type of the ``make_project`` fixture."""
MakeOp = Callable[[str, str], tuple[Path, str]]
"""The type of the ``op_project`` fixture."""


@dataclass
class Ran:
    code: int
    out: str
    err: str


Chant = Callable[..., Ran]
"""The type of the ``chant`` and ``chant_proc`` fixtures."""


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own HOME, no colour and no make variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # a CI's FORCE_COLOR would colour pipes
    # On GitHub Actions every `chant run` would append to the job's real step summary.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # `make test` runs pytest under make; a nested make would then print "Entering
    # directory" lines that a user's shell never shows.
    for name in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a project: ``make_project({"ops/x.op.py": "...", "chant.toml": "..."})``.

    Texts are dedented. Returns the project folder.
    """

    def make(files: dict[str, str], folder: str = "proj") -> Path:
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return root

    return make


@pytest.fixture
def op_project(
    make_project: MakeProject, temporal_server: TemporalServer, tmp_path: Path
) -> Iterator[MakeOp]:
    """``op_project(prefix, op_text)``: a Temporal project whose ``ops/op.op.py`` is
    ``op_text`` formatted with ``name`` (unique) and ``tmp``; its runs are terminated at
    the end."""
    made: list[tuple[Path, str]] = []

    def make(prefix: str, text: str) -> tuple[Path, str]:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        root = make_project(
            {
                "chant.toml": temporal_server.toml(f"q-{name}"),
                "ops/op.op.py": text.format(name=name, tmp=tmp_path),
            },
            folder=name,
        )
        made.append((root, name))
        return root, name

    yield make
    for root, name in made:
        # Nothing may be left running on the shared server (exit 2: it was not running).
        chant_subprocess("cancel", name, "--force", cwd=root, timeout=30)


@pytest.fixture
def chant(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """Run ``chant ARGS`` in-process (fast) from ``cwd``; returns exit code and output."""

    def run(*args: str, cwd: Path) -> Ran:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


FAKE_TOOL = Path(__file__).parent / "activities" / "fakes" / "fake_tool.py"


def write_fake_tools(bin_dir: Path, *names: str) -> None:
    """Put fake ``names`` (kubectl, helm) in ``bin_dir``: each runs fakes/fake_tool.py,
    which logs its argv to ``FAKE_TOOLS_LOG`` and behaves as ``FAKE_<TOOL>`` says."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        script = bin_dir / name
        # -S: skip site, so each fake call starts in a few tens of milliseconds.
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKE_TOOL}" {name} "$@"\n')
        script.chmod(0o755)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def zombie_children(pid: int) -> set[int]:
    """The children of ``pid`` that are zombies (exited, not yet reaped)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] == "Z":
                found.add(int(entry))
    return found


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    """Wait up to ``seconds`` for ``pid`` to be gone; whether it is."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def run_op(
    op: Op,
    *,
    kill_grace: float = 0.5,
    timeout: float = 60,
    check_args: bool = False,
    secrets: dict[str, str] | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> tuple[RunResult, list[Event]]:
    """Resolve ``op`` against the real default registry (its steps' arguments checked
    against their activities too with ``check_args``) and run it locally with
    ``secrets``; ``sleep`` replaces the wait between attempts."""
    registry = default_registry()
    problems: list[Problem] = []
    resolved = resolve_op(
        op,
        profiles={},
        activities=registry.defaults(),
        problems=problems,
        check_args=(
            (lambda fn, args: registry.get(fn).check_args(args))  # type: ignore[union-attr]
            if check_args
            else None
        ),
    )
    assert problems == []
    events: list[Event] = []
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    executor = LocalExecutor(
        registry, sinks=[events.append], kill_grace=kill_grace, secrets=secrets, **extra
    )
    result = asyncio.run(asyncio.wait_for(executor.run(resolved), timeout))
    return result, events


def chant_subprocess(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> Ran:
    """Run ``python -m chant ARGS`` as a real process."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "chant", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def chant_proc() -> Callable[..., Ran]:
    return chant_subprocess


# temporalio can crash an interpreter at exit (sdk-python issue 300), which would turn a
# green run red after its summary. A few tests use a temporalio client in this process;
# when one did, leave as `chant` itself does: flush, then os._exit with pytest's status.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "temporalio" in sys.modules and _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
