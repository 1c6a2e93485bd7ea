"""Durations, the built-in activity profiles, and retry arithmetic.

Pure functions over IR data: no I/O, so Temporal's workflow sandbox can import it.
"""

from __future__ import annotations

import re

from chant.ir import Profile, Retry

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HELP = "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"


def parse_duration(text: str) -> float:
    """Return the duration ``text`` (``100ms``, ``30s``, ``5m``, ``1h30m``, ``2d``) in seconds.

    Raises ``ValueError`` naming the text and the accepted form.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"bad duration {text!r}: {DURATION_HELP}")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"bad duration {text!r}: {DURATION_HELP}")
    return total


def format_seconds(seconds: float) -> str:
    """Render a duration for people: ``12ms``, ``1.2s``, ``2m05s``, ``1h02m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


BUILTIN_PROFILES: dict[str, Profile] = {
    "fast_idempotent": Profile(
        name="fast_idempotent",
        timeout="5m",
        retry=Retry(max_attempts=3, initial_interval="5s", backoff_coefficient=2.0),
    ),
    "long_infra": Profile(
        name="long_infra",
        timeout="20m",
        heartbeat_timeout="60s",
        retry=Retry(max_attempts=3, initial_interval="30s", backoff_coefficient=2.0),
    ),
    "k8s_wait": Profile(
        name="k8s_wait",
        timeout="15m",
        heartbeat_timeout="60s",
        retry=Retry(
            max_attempts=3,
            initial_interval="10s",
            backoff_coefficient=2.0,
            non_retryable_error_types=("ReadinessFailedError",),
        ),
    ),
    "human_gate": Profile(
        name="human_gate",
        timeout="48h",
        heartbeat_timeout="90s",
        retry=Retry(max_attempts=1),
    ),
    "policy_check": Profile(name="policy_check", timeout="5m", retry=Retry(max_attempts=1)),
}
DEFAULT_PROFILE = "fast_idempotent"


def retry_delay(retry: Retry, attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

    Temporal's formula: ``min(initial * coefficient ** (attempt - 1), maximum_interval)``,
    where ``maximum_interval`` defaults to 100 × ``initial_interval``.
    """
    initial = parse_duration(retry.initial_interval)
    ceiling = parse_duration(retry.maximum_interval) if retry.maximum_interval else 100 * initial
    return float(min(initial * retry.backoff_coefficient ** (attempt - 1), ceiling))


def may_retry(retry: Retry, attempt: int, error_type: str, non_retryable: bool) -> bool:
    """Whether a step whose attempt ``attempt`` failed with ``error_type`` gets another."""
    if non_retryable or error_type in retry.non_retryable_error_types:
        return False
    return retry.max_attempts == 0 or attempt < retry.max_attempts
