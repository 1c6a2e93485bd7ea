"""Telling which Temporal dev servers run on this machine, and which serves an address.

A dev server is a ``temporal server start-dev`` process, found by its command line
(``/proc`` on Linux, ``ps`` elsewhere). ``chant server`` and the auto-start of a
profile use this to tell the project's own server from another project's, or one
started by hand. ``health_check`` asks a server whether it serves.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from chant.errors import UsageError


@dataclass(frozen=True)
class OtherServer:
    """A ``temporal server start-dev`` serving an address, that this project did not
    start: another project's (``project`` is its root), or one started by hand."""

    pid: int
    address: str
    project: Path | None
    """The root of the chant project that started it (its database is in that
    project's ``.chant/server/``), or None when it was not started by chant."""

    def describe(self, *, already: bool = False) -> str:
        """``a Temporal dev server is serving ADDR (started by chant in ROOT, pid N)``."""
        who = (
            f"started by chant in {self.project}"
            if self.project is not None
            else "not started by chant"
        )
        state = "already serving" if already else "serving"
        return f"a Temporal dev server is {state} {self.address} ({who}, pid {self.pid})"


def serving(address: str) -> OtherServer | None:
    """The ``temporal server start-dev`` process listening on ``address``, if any (found
    by its command line: ``--ip`` and ``--port``)."""
    host, port = host_port(address)
    for pid, argv in _dev_servers():
        ip = _option(argv, "--ip") or "127.0.0.1"
        if _option(argv, "--port", "-p") != str(port) or not _same_host(ip, host):
            continue
        db = _option(argv, "--db-filename", "-f")
        project = None
        if db is not None:
            path = Path(db)
            if path.name == "temporal.db" and path.parent.parent.name == ".chant":
                project = path.parent.parent.parent
        return OtherServer(pid, address, project)
    return None


def _same_host(a: str, b: str) -> bool:
    loopback = ("127.0.0.1", "localhost")
    return a == b or (a in loopback and b in loopback)


def _option(argv: list[str], *names: str) -> str | None:
    """The value of the first of ``names`` in ``argv`` (``--x v`` or ``--x=v``)."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.partition("=")[2]
    return None


def _dev_servers() -> list[tuple[int, list[str]]]:
    """Every live ``temporal server start-dev`` process on this machine, with its argv."""
    found = []
    if Path("/proc/self").exists():
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    state, argv = process(int(entry))
                except OSError:  # not ours to read (hidepid), or gone meanwhile
                    continue
                if state is not None and state not in "ZX" and is_dev_server(argv):
                    found.append((int(entry), argv))
        return found
    done = subprocess.run(  # macOS: argv split at spaces, as well as ps can tell it
        ["ps", "-ax", "-o", "pid=,command="], capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        pid, _, command = line.strip().partition(" ")
        argv = command.split()
        if pid.isdigit() and is_dev_server(argv):
            found.append((int(pid), argv))
    return found


def is_dev_server(argv: list[str]) -> bool:
    return bool(argv) and Path(argv[0]).name == "temporal" and "start-dev" in argv


def process(pid: int) -> tuple[str | None, list[str]]:
    """``pid``'s state letter (None if there is no such process) and its argv."""
    if Path("/proc/self").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return None, []
        return stat[stat.rfind(")") + 2], argv.decode(errors="replace").split("\0")[:-1]
    done = subprocess.run(  # macOS and other systems without /proc
        ["ps", "-o", "stat=,command=", "-p", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    fields = done.stdout.split()
    return (fields[0][:1], fields[1:]) if fields else (None, [])


def host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:port`` for IPv6); exit 2 if it is neither."""
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"the Temporal address {address!r} is not host:port",
            hint='write it like address = "127.0.0.1:7233" in chant.toml',
        )
    return host, int(port)


HEALTH_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
"""What ``temporal operator cluster health`` and the SDKs ask the health service about."""
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_SERVING = b"\x00\x00\x00\x00\x02\x08\x01"
"""A gRPC message (uncompressed, 2 bytes): ``HealthCheckResponse{status: SERVING}``."""


def health_check(address: str, timeout: float) -> bool:
    """Whether the Temporal frontend at ``address`` (plain-text gRPC) answers the gRPC
    health check of its WorkflowService with SERVING within ``timeout`` seconds.

    One ``grpc.health.v1.Health/Check`` call over HTTP/2 on a socket of its own: a
    millisecond on loopback, and nothing to import (a CLI process or the temporalio
    client would cost 50 to 300 ms)."""
    host, port = host_port(address)
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_health_request(address))
            return _health_answer(sock, deadline) == _SERVING
    except OSError:  # refused, reset, timed out
        return False


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream) + payload


def _hpack(value: str) -> bytes:
    """An HPACK string literal (no Huffman coding; values here are under 127 bytes)."""
    data = value.encode()
    return bytes([len(data)]) + data


def _health_request(authority: str) -> bytes:
    service = HEALTH_SERVICE.encode()
    message = b"\x0a" + bytes([len(service)]) + service  # HealthCheckRequest{service}
    headers = (
        b"\x83\x86"  # :method POST, :scheme http (static table)
        + b"\x04" + _hpack("/grpc.health.v1.Health/Check")  # :path
        + b"\x01" + _hpack(authority)  # :authority
        + b"\x0f\x10" + _hpack("application/grpc")  # content-type
        + b"\x00" + _hpack("te") + _hpack("trailers")
    )  # fmt: skip
    return (
        _PREFACE
        + _frame(4, 0, 0, b"")  # SETTINGS
        + _frame(1, 4, 1, headers)  # HEADERS, END_HEADERS
        + _frame(0, 1, 1, b"\x00" + struct.pack(">I", len(message)) + message)  # END_STREAM
    )


def _health_answer(sock: socket.socket, deadline: float) -> bytes:
    """The DATA of stream 1 once the server ends it (b"" if it resets it or goes away)."""
    buf, data = b"", b""
    while True:
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            size, kind, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
            stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            payload, buf = buf[9 : 9 + size], buf[9 + size :]
            if kind == 4 and not flags & 1:  # the server's SETTINGS: acknowledge them
                sock.sendall(_frame(4, 1, 0, b""))
            elif kind == 7 or (kind == 3 and stream == 1):  # GOAWAY, RST_STREAM
                return b""
            elif stream == 1 and kind in (0, 1):
                if kind == 0 and flags & 8:  # PADDED
                    payload = payload[1 : len(payload) - payload[0]]
                if kind == 0:
                    data += payload
                if flags & 1:  # END_STREAM
                    return data
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        buf += chunk
