"""The http_check activity against a real HTTP server on a loopback port, whose answers
each test scripts."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Profile, Retry, http_check, phase
from chant.activities.http import http_check as http_check_activity
from chant.activities.registry import ActivityContext, default_registry
from chant.errors import ActivityError, Problem
from chant.local.executor import LocalExecutor
from chant.plan import resolve_op
from conftest import run_op

Lines = list[tuple[str, str]]
FAST = {"interval": "10ms", "within": "5s"}


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Wait (until the test ends) instead of answering."""
    delay: float = 0.0
    """Seconds to wait before answering."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class Server:
    """Answers with ``replies`` in order; the last one repeats for every later request."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply()]
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def next(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            reply = state.next(Seen(self.command, self.path, dict(self.headers.items())))
            if reply.hang:
                state.release.wait(10)
                return
            if reply.delay:
                state.release.wait(reply.delay)
            body = reply.body.encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = do_PUT = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def context(lines: Lines) -> ActivityContext:
    return ActivityContext(
        step_id="s.1", attempt=1, output=lambda line, stream: lines.append((stream, line))
    )


def call(**kw: Any) -> tuple[dict[str, Any], Lines, ActivityContext]:
    lines: Lines = []
    ctx = context(lines)
    result = asyncio.run(asyncio.wait_for(http_check_activity(ctx, **kw), 20))
    return result, lines, ctx


def fails(**kw: Any) -> tuple[ActivityError, Lines]:
    lines: Lines = []
    with pytest.raises(ActivityError) as err:
        asyncio.run(asyncio.wait_for(http_check_activity(context(lines), **kw), 20))
    return err.value, lines


# --- matching --------------------------------------------------------------------------


def test_it_polls_until_a_2xx_and_logs_and_heartbeats_every_attempt(server: Server) -> None:
    server.script(Reply(503), Reply(503), Reply(200, "ok"))
    result, lines, ctx = call(url=server.url, **FAST)
    assert result["status"] == 200
    assert result["attempts"] == 3
    assert isinstance(result["elapsed_ms"], int)
    assert 20 <= result["elapsed_ms"] < 5000
    retry = f"GET {server.url} → 503 Service Unavailable (want 2xx); retrying in 10ms"
    assert lines == [
        ("log", retry),
        ("log", retry),
        ("log", f"GET {server.url} → 200 OK (want 2xx): matched"),
    ]
    assert ctx.heartbeat_details == {"attempts": 3, "status": 200, "last": "200 OK"}
    assert [(s.method, s.path) for s in server.seen] == [("GET", "/health")] * 3


def test_any_2xx_matches_by_default_but_not_a_4xx(server: Server) -> None:
    server.script(Reply(404), Reply(204))
    result, lines, _ = call(url=server.url, **FAST)
    assert (result["status"], result["attempts"]) == (204, 2)
    assert lines[0] == ("log", f"GET {server.url} → 404 Not Found (want 2xx); retrying in 10ms")


def test_an_explicit_status_list_is_matched_exactly(server: Server) -> None:
    server.script(Reply(200), Reply(503), Reply(410))
    result, lines, _ = call(url=server.url, status=[404, 410], **FAST)
    assert (result["status"], result["attempts"]) == (410, 3)
    assert lines[0] == ("log", f"GET {server.url} → 200 OK (want 404 or 410); retrying in 10ms")
    assert lines[-1] == ("log", f"GET {server.url} → 410 Gone (want 404 or 410): matched")


def test_a_single_status_may_be_an_error_code(server: Server) -> None:
    server.script(Reply(503))
    result, _, _ = call(url=server.url, status=503, **FAST)
    assert (result["status"], result["attempts"]) == (503, 1)


def test_contains_waits_for_the_body_to_hold_the_text(server: Server) -> None:
    server.script(Reply(200, "starting"), Reply(503, "ready soon"), Reply(200, '{"ready": true}'))
    result, lines, _ = call(url=server.url, contains='"ready": true', **FAST)
    assert (result["status"], result["attempts"]) == (200, 3)
    want = "2xx with '\"ready\": true' in the body"
    assert lines == [
        ("log", f"GET {server.url} → 200 OK, body without '\"ready\": true' (want {want}); "
         "retrying in 10ms"),
        ("log", f"GET {server.url} → 503 Service Unavailable (want {want}); retrying in 10ms"),
        ("log", f"GET {server.url} → 200 OK (want {want}): matched"),
    ]  # fmt: skip


def test_contains_also_reads_the_body_of_an_error_status(server: Server) -> None:
    server.script(Reply(500, "warming up"), Reply(500, "boom: disk full"))
    result, _, _ = call(url=server.url, status=500, contains="disk full", **FAST)
    assert (result["status"], result["attempts"]) == (500, 2)


def test_redirects_are_followed_unless_a_3xx_is_wanted(server: Server) -> None:
    server.script(Reply(302, headers={"Location": "/ready"}), Reply(200, "here"))
    result, _, _ = call(url=server.url, contains="here", **FAST)
    assert (result["status"], result["attempts"]) == (200, 1)
    assert [s.path for s in server.seen] == ["/health", "/ready"]

    server.seen.clear()
    server.script(Reply(302, headers={"Location": "/ready"}))
    result, _, _ = call(url=server.url, status=[301, 302], **FAST)
    assert (result["status"], result["attempts"]) == (302, 1)
    assert [s.path for s in server.seen] == ["/health"]


# --- what is sent ----------------------------------------------------------------------


def test_headers_are_sent_with_every_request_and_never_logged(server: Server) -> None:
    server.script(Reply(503), Reply(200))
    headers = {"Authorization": "Bearer s3cret-token", "X-Probe": "chant"}
    _, lines, _ = call(url=server.url, headers=headers, **FAST)
    assert len(server.seen) == 2
    for seen in server.seen:
        assert seen.headers["Authorization"] == "Bearer s3cret-token"
        assert seen.headers["X-Probe"] == "chant"
        assert seen.headers["User-Agent"] == "chant-http-check"
    assert not any("s3cret" in line for _, line in lines)


def test_the_method_is_used_and_shown(server: Server) -> None:
    _, lines, _ = call(url=server.url, method="post", **FAST)
    assert [s.method for s in server.seen] == ["POST"]
    assert lines == [("log", f"POST {server.url} → 200 OK (want 2xx): matched")]
    call(url=server.url, method="HEAD", **FAST)
    assert server.seen[-1].method == "HEAD"


# --- running out of time ---------------------------------------------------------------


def test_running_out_of_time_names_the_last_answer_and_what_was_wanted(server: Server) -> None:
    server.script(Reply(503))
    # Attempts at about 0, 100 and 200ms, and a last one as the 250ms run out.
    err, lines = fails(url=server.url, interval="100ms", within="250ms")
    assert err.type == "HttpCheckFailedError"
    assert not err.non_retryable
    assert str(err).startswith(f"GET {server.url} did not answer 2xx within 250ms (")
    assert str(err).endswith("attempts); the last attempt got 503 Service Unavailable")
    assert lines[-1] == ("log", f"GET {server.url} → 503 Service Unavailable (want 2xx); giving up")


def test_the_last_attempt_comes_when_within_runs_out(server: Server) -> None:
    server.script(Reply(503))
    # The interval is longer than within: one attempt at once, one more at the end.
    err, lines = fails(url=server.url, interval="1s", within="300ms")
    assert str(err) == (
        f"GET {server.url} did not answer 2xx within 300ms (2 attempts); "
        "the last attempt got 503 Service Unavailable"
    )
    assert len(server.seen) == 2
    assert lines == [
        (
            "log",
            f"GET {server.url} → 503 Service Unavailable (want 2xx); one last try as 300ms ends",
        ),
        ("log", f"GET {server.url} → 503 Service Unavailable (want 2xx); giving up"),
    ]


def test_a_body_that_never_matches_is_named_in_the_failure(server: Server) -> None:
    server.script(Reply(200, "starting"))
    err, _ = fails(url=server.url, contains="ready", interval="1s", within="200ms")
    assert str(err) == (
        f"GET {server.url} did not answer 2xx with 'ready' in the body within 200ms "
        "(2 attempts); the last attempt got 200 OK, body without 'ready'"
    )


def test_a_refused_connection_is_a_failed_attempt() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    err, lines = fails(url=url, interval="1s", within="300ms")
    assert err.type == "HttpCheckFailedError"
    assert str(err) == (
        f"GET {url} did not answer 2xx within 300ms (2 attempts); "
        "the last attempt got connection refused"
    )
    assert lines == [
        ("log", f"GET {url} → connection refused (want 2xx); one last try as 300ms ends"),
        ("log", f"GET {url} → connection refused (want 2xx); giving up"),
    ]


def test_a_server_that_hangs_is_given_no_longer_than_the_time_left(server: Server) -> None:
    server.script(Reply(hang=True))
    err, _ = fails(url=server.url, interval="50ms", within="300ms")
    assert str(err) == (
        f"GET {server.url} did not answer 2xx within 300ms (1 attempt); "
        "the last attempt got no response within 300ms"
    )


# The last try comes as ``within`` runs out, and gets a real wait: the failure names the
# server's real last answer, however slowly it comes.


@pytest.mark.parametrize(
    ("last", "kw", "got"),
    [
        (Reply(503, delay=0.3), {}, "503 Service Unavailable"),
        (Reply(500, delay=0.3), {}, "500 Internal Server Error"),
        (Reply(200, delay=0.3), {"status": 204}, "200 OK"),
        (Reply(200, "starting", delay=0.3), {"contains": "ready"}, "200 OK, body without 'ready'"),
        (Reply(404, delay=0.3), {"method": "HEAD"}, "404 Not Found"),
    ],
)
def test_the_last_try_gets_a_real_wait_and_its_slow_answer_is_named(
    server: Server, last: Reply, kw: dict[str, Any], got: str
) -> None:
    server.script(Reply(502), last)
    started = time.monotonic()
    err, lines = fails(url=server.url, interval="1s", within="400ms", **kw)
    elapsed = time.monotonic() - started
    method = kw.get("method", "GET")
    assert str(err).endswith(f"within 400ms (2 attempts); the last attempt got {got}")
    assert str(err).startswith(f"{method} {server.url} did not answer ")
    assert lines[-1][1].startswith(f"{method} {server.url} → {got} (want ")
    assert 0.7 <= elapsed < 3  # within, then the last answer 300ms later


def test_a_slow_match_on_the_last_try_succeeds(server: Server) -> None:
    server.script(Reply(503), Reply(200, delay=0.3))
    result, lines, _ = call(url=server.url, interval="1s", within="400ms")
    assert (result["status"], result["attempts"]) == (200, 2)
    assert lines[-1] == ("log", f"GET {server.url} → 200 OK (want 2xx): matched")


def test_a_last_try_that_hangs_waits_no_longer_than_within(server: Server) -> None:
    server.script(Reply(503), Reply(hang=True))
    started = time.monotonic()
    err, _ = fails(url=server.url, interval="1s", within="400ms")
    assert str(err).endswith("(2 attempts); the last attempt got no response within 400ms")
    assert time.monotonic() - started < 2


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_server_coming_up_late_is_waited_for() -> None:
    # The port refuses connections until a server binds it, some attempts later.
    port = closed_port()
    url = f"http://127.0.0.1:{port}/"
    lines: Lines = []

    async def scenario() -> dict[str, Any]:
        check = http_check_activity(context(lines), url=url, interval="20ms", within="5s")
        task = asyncio.ensure_future(check)
        await asyncio.sleep(0.1)
        assert not task.done()
        httpd = ThreadingHTTPServer(("127.0.0.1", port), Ok)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            return await asyncio.wait_for(task, 5)
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    result = asyncio.run(scenario())
    assert result["status"] == 200
    assert result["attempts"] > 2
    assert lines[0] == ("log", f"GET {url} → connection refused (want 2xx); retrying in 20ms")
    assert lines[-1] == ("log", f"GET {url} → 200 OK (want 2xx): matched")


# --- bad arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"interval": "soon"},
            "http_check interval: bad duration 'soon': write a number with a unit, "
            "e.g. 100ms, 30s, 5m, 1h30m or 2d",
        ),
        ({"within": "0s"}, "http_check within must be longer than 0, not '0s'"),
        (
            {"status": [200, "ok"]},
            "http_check status must be an HTTP status code or a list of them, not [200, 'ok']",
        ),
        (
            {"url": "ftp://host/x"},
            "http_check needs an http:// or https:// URL, not 'ftp://host/x'",
        ),
        ({"url": "http://"}, "http_check needs an http:// or https:// URL, not 'http://'"),
        (
            {"headers": {"X-Bad": "a\nb"}},
            "http_check cannot send GET http://127.0.0.1:1/: Invalid header value b'a\\nb'",
        ),
    ],
)
def test_bad_arguments_fail_at_once_without_retrying(kw: dict[str, Any], message: str) -> None:
    args = {"url": "http://127.0.0.1:1/", **kw}
    err, lines = fails(**args)
    assert err.type == "InvalidArgumentError"
    assert err.non_retryable
    assert str(err) == message
    assert lines == []


# --- through the executor --------------------------------------------------------------


def test_a_check_that_runs_out_is_retried_by_the_profile(server: Server) -> None:
    server.script(Reply(503))
    profile = Profile(timeout="10s", retry=Retry(max_attempts=2, initial_interval="10ms"))
    step = http_check(server.url, interval="10ms", within="30ms", profile=profile)
    result, events = run_op(Op(name="h", phases=[phase("A", [step])]))
    assert result.steps[0].status == "failed"
    assert result.steps[0].attempts == 2
    assert result.steps[0].error is not None
    assert result.steps[0].error["type"] == "HttpCheckFailedError"
    outputs = [e for e in events if e.type == "step_output"]
    assert outputs
    assert all(e.data["stream"] == "log" for e in outputs)


def test_it_heartbeats_while_a_request_hangs(server: Server) -> None:
    server.script(Reply(hang=True))
    profile = Profile(timeout="10s", heartbeat_timeout="100ms", retry=Retry(max_attempts=1))
    step = http_check(server.url, interval="10ms", within="400ms", profile=profile)
    result, _ = run_op(Op(name="h", phases=[phase("A", [step])]))
    assert result.steps[0].error is not None
    assert result.steps[0].error["type"] == "HttpCheckFailedError"
    assert result.steps[0].error["message"].endswith("got no response within 400ms")


def test_a_bad_duration_is_not_retried(server: Server) -> None:
    # chant build rejects this step (tests/cli/test_bad_input.py); an IR that reaches the
    # activity anyway, e.g. written by hand, still fails at once.
    registry = default_registry()
    problems: list[Problem] = []
    op = Op(name="h", phases=[phase("A", [http_check(server.url, within="1m")])])
    op = resolve_op(op, profiles={}, activities=registry.defaults(), problems=problems)
    [[step]] = [p.steps for p in op.phases]
    bad = dataclasses.replace(step, args={**step.args, "within": "forever"})
    op = dataclasses.replace(op, phases=[dataclasses.replace(op.phases[0], steps=(bad,))])
    result = asyncio.run(asyncio.wait_for(LocalExecutor(registry).run(op), 60))
    assert result.steps[0].attempts == 1
    assert result.steps[0].error is not None
    assert result.steps[0].error["type"] == "InvalidArgumentError"
    assert server.seen == []


def test_chant_run_checks_a_url_and_shows_each_attempt(
    server: Server, make_project: Callable[..., Path], chant: Callable[..., Any]
) -> None:
    server.script(Reply(503), Reply(200, "all good"))
    root = make_project(
        {
            "chant.toml": "",
            "check.op.py": f"""
                from chant import Op, Outcome, phase, http_check

                check = Op(
                    name="check",
                    phases=[
                        phase("Probe", [
                            http_check(
                                "{server.url}",
                                contains="good",
                                interval="10ms",
                                within="5s",
                                headers={{"X-From": "op"}},
                                outcome=Outcome("Code", "status"),
                            ),
                        ]),
                    ],
                )
            """,
        }
    )
    ran = chant("run", "check", "--local", cwd=root)
    assert ran.code == 0, ran.out + ran.err
    want = "(want 2xx with 'good' in the body)"
    assert f"GET {server.url} → 503 Service Unavailable {want}; retrying in 10ms" in ran.out
    assert f"GET {server.url} → 200 OK {want}: matched" in ran.out
    assert "[outcome] Code=200" in ran.out
    assert [s.headers.get("X-From") for s in server.seen] == ["op", "op"]
