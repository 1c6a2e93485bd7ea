"""The ``http_check`` activity: poll a URL until it answers as wanted.

Requests go through the standard library's ``urllib`` (imported when a check runs,
so ``import chant`` stays light), each in a daemon thread so that a run stopped in the
middle of a request exits at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chant.activities.calling import in_daemon_thread
from chant.activities.registry import ActivityContext
from chant.errors import ActivityError, ErrorType
from chant.profiles import format_seconds, parse_duration

MAX_REQUEST_SECONDS = 30.0
"""No single request waits longer than this (nor longer than ``within``), so a server
that accepts connections but hangs still gets asked again. A request is never cut short
by the time left: the last try, as ``within`` ends, gets an answer the failure can name."""
MAX_BODY_BYTES = 4 * 1024 * 1024
"""How much of a body ``contains`` searches (the beginning of it)."""


@dataclass(frozen=True)
class _Answer:
    """One attempt's outcome: a response (``status`` set) or why there was none."""

    status: int | None
    text: str
    body: str = ""


async def http_check(
    ctx: ActivityContext,
    url: str,
    method: str = "GET",
    status: int | Sequence[int] | None = None,
    contains: str | None = None,
    interval: str = "2s",
    within: str = "1m",
    headers: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Poll ``url`` until the response matches or ``within`` runs out.

    Args: ``url`` an http:// or https:// URL; ``method`` the HTTP method; ``status`` the
    wanted status code or codes (default: any 2xx); ``contains`` a string the body must
    contain (its first 4 MiB, decoded as UTF-8); ``interval`` the pause between attempts
    and ``within`` how long to keep trying (durations such as ``"500ms"``, ``"2s"``,
    ``"1m"``); ``headers`` sent with every request (secret values arrive resolved).
    Redirects are followed unless ``status`` names a 3xx code. A connection error or a
    timeout (each request waits at most 30s, or ``within`` if shorter) counts as a
    non-matching attempt. The last try starts as ``within`` runs out and is waited for
    like any other, so a check can take ``within`` plus one request's wait. Every
    attempt is logged and heartbeats.

    Returns ``{status, elapsed_ms, attempts}`` for the matching response.

    Default profile: ``fast_idempotent`` (keep ``within`` below its timeout).

    Errors: ``HttpCheckFailedError`` when ``within`` runs out, naming the last response
    (or error) and what was wanted; retried as the profile says. Not retried:
    ``InvalidArgumentError`` for a bad URL, duration, status or header.
    """
    import urllib.parse

    wanted = _wanted_statuses(status)
    pause = _duration("interval", interval)
    budget = _duration("within", within)
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(f"http_check needs an http:// or https:// URL, not {url!r}")
    check = _Check(
        url=url,
        method=method.upper(),
        wanted=wanted,
        contains=contains,
        want=_describe_want(wanted, contains),
        pause=pause,
        budget=budget,
        interval=interval,
        within=within,
        headers=_headers(headers),
        follow=not any(300 <= code < 400 for code in wanted or ()),
    )
    # A request may wait up to 30s and a pause may be long: when the profile wants
    # heartbeats, send them meanwhile too.
    beat = asyncio.ensure_future(_keep_beating(ctx)) if ctx.heartbeat_interval else None
    try:
        return await _poll(ctx, check)
    finally:
        if beat is not None:
            beat.cancel()


@dataclass(frozen=True)
class _Check:
    url: str
    method: str
    wanted: tuple[int, ...] | None
    contains: str | None
    want: str
    """What is wanted, for people: ``2xx``, ``200 or 204``, ``2xx with 'ok' in the body``."""
    pause: float
    budget: float
    interval: str
    within: str
    headers: dict[str, str]
    follow: bool


async def _keep_beating(ctx: ActivityContext) -> None:
    while ctx.heartbeat_interval:
        await asyncio.sleep(ctx.heartbeat_interval)
        ctx.heartbeat()


async def _poll(ctx: ActivityContext, check: _Check) -> dict[str, object]:
    where = f"{check.method} {check.url}"
    started = time.monotonic()
    deadline = started + check.budget
    attempts = 0
    timeout = min(MAX_REQUEST_SECONDS, check.budget)
    while True:
        attempts += 1
        try:
            answer: _Answer = await in_daemon_thread(
                _request,
                {
                    "url": check.url,
                    "method": check.method,
                    "headers": check.headers,
                    "timeout": timeout,
                    "follow": check.follow,
                    "read_body": check.contains is not None,
                },
                "chant-http-check",
            )
        except ValueError as exc:  # urllib/http.client refusing the request itself
            raise _invalid(f"http_check cannot send {where}: {exc}") from None
        ctx.heartbeat({"attempts": attempts, "status": answer.status, "last": answer.text})
        matched = answer.status is not None and _status_ok(answer.status, check.wanted)
        seen = answer.text
        if matched and check.contains is not None and check.contains not in answer.body:
            seen, matched = f"{answer.text}, body without {check.contains!r}", False
        if matched:
            elapsed_ms = round((time.monotonic() - started) * 1000)
            ctx.log(f"{where} → {seen} (want {check.want}): matched")
            return {"status": answer.status, "elapsed_ms": elapsed_ms, "attempts": attempts}
        left = deadline - time.monotonic()
        if left <= 0:
            ctx.log(f"{where} → {seen} (want {check.want}); giving up")
            tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
            raise ActivityError(
                f"{where} did not answer {check.want} within {check.within} ({tries}); "
                f"the last attempt got {seen}",
                type=ErrorType.HTTP_CHECK_FAILED,
            )
        # The last attempt comes when ``within`` runs out, not one interval before it.
        if check.pause < left:
            ctx.log(f"{where} → {seen} (want {check.want}); retrying in {check.interval}")
        else:
            ctx.log(f"{where} → {seen} (want {check.want}); one last try as {check.within} ends")
        await asyncio.sleep(min(check.pause, left))


def _invalid(message: str) -> ActivityError:
    return ActivityError(message, type=ErrorType.INVALID_ARGUMENT, non_retryable=True)


def _duration(name: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise _invalid(f"http_check {name}: {exc}") from None
    if seconds <= 0:
        raise _invalid(f"http_check {name} must be longer than 0, not {text!r}")
    return seconds


def _wanted_statuses(status: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if status is None:
        return None
    codes = (status,) if isinstance(status, int) else tuple(status) if _is_list(status) else ()
    if not codes or not all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in codes
    ):
        raise _invalid(
            f"http_check status must be an HTTP status code or a list of them, not {status!r}"
        )
    return codes


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    sent = {"User-Agent": "chant-http-check"}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise _invalid(f"http_check header {name!r} must be a string (its value too)")
        sent[name] = value
    return sent


def _status_ok(code: int, wanted: tuple[int, ...] | None) -> bool:
    return 200 <= code < 300 if wanted is None else code in wanted


def _describe_want(wanted: tuple[int, ...] | None, contains: str | None) -> str:
    if wanted is None:
        text = "2xx"
    elif len(wanted) == 1:
        text = str(wanted[0])
    else:
        text = ", ".join(str(c) for c in wanted[:-1]) + f" or {wanted[-1]}"
    return text if contains is None else f"{text} with {contains!r} in the body"


def _request(
    url: str,
    method: str,
    headers: dict[str, str],
    timeout: float,
    follow: bool,
    read_body: bool,
) -> _Answer:
    """Send one request (blocking); a response of any status is an answer, and so is
    every network error."""
    import http.client
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """Hands a 3xx back as the answer instead of following it."""

        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with opener.open(request, timeout=timeout) as response:
            code, reason = response.status, response.reason
            body = response.read(MAX_BODY_BYTES) if read_body else b""
    except urllib.error.HTTPError as exc:
        code, reason = exc.code, exc.reason
        try:
            body = exc.read(MAX_BODY_BYTES) if read_body and exc.fp is not None else b""
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        return _Answer(None, _network_error(exc.reason, timeout))
    except (OSError, http.client.HTTPException) as exc:
        return _Answer(None, _network_error(exc, timeout))
    text = f"{code} {reason}".rstrip() if reason else str(code)
    return _Answer(code, text, body.decode("utf-8", "replace"))


def _network_error(reason: object, timeout: float) -> str:
    import socket

    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no response within {format_seconds(timeout)}"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[0].lower() + reason.strerror[1:]
    return str(reason) or type(reason).__name__
