"""``chant server start|stop|status`` against a real Temporal dev server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chant.errors import RuntimeUnavailableError
from chant.temporal import devserver
from chant.temporal.servers import health_check
from conftest import Ran, chant_subprocess, wait_gone
from temporal_server import TemporalServer, free_port

RUNNING = re.compile(
    r"^Temporal dev server (running|already running) at (\S+) "
    r"\(pid (\d+), state in \.chant/server/temporal\.db\)\n"
    r"next: chant run <NAME> --temporal\n$"
)
NOT_RUNNING = "no dev server of this project is running (start one with chant server start)\n"


def project(tmp_path: Path, address: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "chant.toml").write_text(
        f'[temporal]\n[temporal.profiles.dev]\naddress = "{address}"\n', encoding="utf-8"
    )
    return root


def server(action: str, root: Path) -> Ran:
    return chant_subprocess("server", action, cwd=root)


def temporal(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [devserver.temporal_cli(), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def started_pid(ran: Ran, state: str, address: str) -> int:
    assert ran.code == 0, ran.err
    match = RUNNING.match(ran.out)
    assert match, ran.out
    assert match.group(1, 2) == (state, address)
    return int(match[3])


def test_start_status_stop(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    root = project(tmp_path, address)
    try:
        pid = started_pid(server("start", root), "running", address)
        assert (root / ".chant" / "server" / "temporal.db").is_file()
        assert (root / ".chant" / ".gitignore").read_text() == "*\n"

        status = server("status", root)
        assert (status.code, status.out) == (
            0,
            f"Temporal dev server running at {address} "
            f"(pid {pid}, state in .chant/server/temporal.db)\n",
        )
        assert started_pid(server("start", root), "already running", address) == pid

        stopped = server("stop", root)
        assert (stopped.code, stopped.out) == (0, f"Temporal dev server stopped (pid {pid})\n")
        assert wait_gone(pid)
        assert not (root / ".chant" / "server" / "server.json").exists()
    finally:
        devserver.stop(root)

    assert (server("status", root).code, server("status", root).out) == (3, NOT_RUNNING)
    again = server("stop", root)
    assert (again.code, again.out) == (0, "no dev server of this project is running\n")


def test_runs_survive_a_restart(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    root = project(tmp_path, address)
    try:
        first = started_pid(server("start", root), "running", address)
        made = temporal(
            "workflow", "start", "--task-queue", "q", "--type", "T", "--workflow-id", "persist-1",
            address=address,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert server("stop", root).code == 0
        assert wait_gone(first)

        assert started_pid(server("start", root), "running", address) != first
        found = temporal("workflow", "describe", "--workflow-id", "persist-1", address=address)
        assert found.returncode == 0, found.stderr
        assert "persist-1" in found.stdout
        ended = temporal("workflow", "terminate", "--workflow-id", "persist-1", address=address)
        assert ended.returncode == 0, ended.stderr
    finally:
        devserver.stop(root)


def test_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path, "10.1.2.3:7233")
    ran = server("start", root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        "chant: error: the Temporal dev server runs on this machine only, and 10.1.2.3:7233 "
        "is not a loopback address\n"
        "  hint: use 127.0.0.1:<port> or localhost:<port> for the dev server profile\n"
    )
    assert not (root / ".chant").exists()


def test_a_port_taken_by_another_listener_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        root = project(tmp_path, address)
        ran = server("start", root)
    assert (ran.code, ran.out) == (3, "")
    assert ran.err == (
        f"chant: error: cannot start the Temporal dev server at {address}: something else "
        "already listens there (chant cannot tell what)\n"
        "  hint: see `chant server status`, or pick another address in chant.toml\n"
    )
    assert not (root / ".chant" / "server" / "server.json").exists()


def test_a_server_that_dies_before_it_is_ready_is_reported_with_its_log(
    tmp_path: Path,
) -> None:
    # A bound but not listening socket refuses connections, so chant sees a free port,
    # and the server then fails to bind it.
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{other.getsockname()[1]}"
        root = project(tmp_path, address)
        ran = server("start", root)
    assert (ran.code, ran.out) == (3, "")
    head, log = ran.err.split("\n", 1)
    assert head == (
        f"chant: error: the Temporal dev server at {address} exited (code 1) before it was "
        "ready; its log ends with:"
    )
    assert f"bind: address already in use\n  hint: see {root}/.chant/server/server.log" in log
    assert not (root / ".chant" / "server" / "server.json").exists()


def test_a_stale_pidfile_is_not_trusted(tmp_path: Path) -> None:
    root = project(tmp_path, f"127.0.0.1:{free_port()}")
    folder = devserver.state_dir(root)
    folder.mkdir(parents=True)
    # A live pid that is not a temporal process: this very test run.
    record = {"pid": os.getpid(), "address": "x", "db": "x", "log": "x", "started": 0.0}
    (folder / "server.json").write_text(json.dumps(record))
    ran = server("status", root)
    assert (ran.code, ran.out) == (3, NOT_RUNNING)
    assert not (folder / "server.json").exists()


def test_the_session_server_serves_with_chants_search_attributes(
    temporal_server: TemporalServer,
) -> None:
    health = temporal("operator", "cluster", "health", address=temporal_server.address)
    assert health.stdout.strip() == "SERVING"
    listed = temporal("operator", "search-attribute", "list", address=temporal_server.address)
    assert re.search(r"ChantOp\s+Keyword\b", listed.stdout)
    assert re.search(r"ChantOutcomes\s+KeywordList\b", listed.stdout)
    assert devserver.status(temporal_server.root) is not None


def test_starts_at_once_in_a_fresh_project_start_one_server(tmp_path: Path) -> None:
    # Each creates .chant/server if missing; none may trip over another's mkdir.
    address = f"127.0.0.1:{free_port()}"
    root = project(tmp_path, address)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "chant", "server", "start"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    try:
        done = [p.communicate(timeout=90) for p in procs]
        assert [(p.returncode, err) for p, (_, err) in zip(procs, done, strict=True)] == [
            (0, "")
        ] * 6
        pids = {int(m[3]) for out, _ in done if (m := RUNNING.match(out))}
        assert len(pids) == 1
        assert (root / ".chant" / ".gitignore").read_text() == "*\n"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        devserver.stop(root)


def test_the_health_check_agrees_with_the_sdks(temporal_server: TemporalServer) -> None:
    import asyncio

    from temporalio.client import Client

    async def sdk() -> bool:
        client = await Client.connect(temporal_server.address)
        return await client.service_client.check_health()

    assert health_check(temporal_server.address, 5.0) is True
    assert asyncio.run(sdk()) is True


def test_an_open_port_that_speaks_no_grpc_is_not_serving(tmp_path: Path) -> None:
    # One listener says nothing, the other answers in HTTP/1.1 and hangs up.
    with socket.socket() as mute, socket.socket() as http:
        for sock in (mute, http):
            sock.bind(("127.0.0.1", 0))
            sock.listen()

        def answer() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = http.accept()
                    with conn:
                        conn.recv(4096)
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        for sock in (mute, http):
            address = f"127.0.0.1:{sock.getsockname()[1]}"
            started = time.monotonic()
            assert health_check(address, 0.5) is False
            assert time.monotonic() - started < 5
            with pytest.raises(RuntimeUnavailableError) as caught:
                devserver.wait_ready(address, 1.0)
            assert str(caught.value).startswith(
                f"the Temporal dev server at {address} was not ready within 1s"
            )
    assert health_check(f"127.0.0.1:{free_port()}", 0.5) is False  # nothing listens
