"""Durations, the built-in activity profiles, and retry arithmetic.

Pure functions over IR data: no I/O, so Temporal's workflow sandbox can import it.
"""

from __future__ import annotations

import re

from chant.errors import ErrorType
from chant.ir import Profile, Retry

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HELP = "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"

MAX_DURATION = 36500 * 86400.0
"""The longest duration chant accepts: 36500d (100 years). Temporal keeps durations as
int64 nanoseconds (about 292 years), so anything longer could not reach it."""
MAX_ATTEMPTS = 2**31 - 1
"""The most ``max_attempts`` can be: Temporal's ``RetryPolicy.maximum_attempts`` is int32."""
MAX_BACKOFF = 100.0
"""The largest ``backoff_coefficient``; Temporal needs at least 1."""


def parse_duration(text: object) -> float:
    """Return the duration ``text`` (``100ms``, ``30s``, ``5m``, ``1h30m``, ``2d``) in seconds.

    Raises ``ValueError`` naming the text and the accepted form, or the limit when it
    is longer than ``MAX_DURATION`` (36500d).
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
    if not total <= MAX_DURATION:  # also catches inf and nan from a thousand digits
        raise ValueError(f"duration {_cut(text)!r} is longer than the limit of 36500d (100 years)")
    return total


def _cut(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most] + "…"


def duration_problem(value: object, *, positive: bool) -> tuple[str | None, float]:
    """Why ``value`` is not a usable duration (or None), and its seconds; ``positive``
    also refuses anything under 1ms."""
    if not isinstance(value, str):
        return f'must be a duration string such as "30s", got {_shown(value)}', 0.0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        return str(exc), 0.0
    if positive and seconds < 0.001:
        return f"{value!r} must be at least 1ms", seconds
    return None, seconds


def _shown(value: object) -> str:
    """``value`` for an error message: its type and a short repr."""
    try:
        text = repr(value)
    except Exception:  # a user object whose __repr__ fails
        text = "?"
    return f"{type(value).__name__} {_cut(text)}"


def profile_problems(profile: object) -> list[tuple[str, str]]:
    """What is wrong with an inline or configured profile, as ``(field, why)`` pairs;
    empty when Temporal and the local executor can both honour it.

    Durations must be strings of at most 36500d, and timeouts and intervals at least
    1ms; ``max_attempts`` an integer 0 (unlimited) to 2**31-1; ``backoff_coefficient`` a
    number from 1 to 100; ``maximum_interval`` not below ``initial_interval``.
    """
    if not isinstance(profile, Profile):
        return [("profile", f"must be a profile name or Profile(...), got {_shown(profile)}")]
    found: list[tuple[str, str]] = []
    if profile.name is not None and not isinstance(profile.name, str):
        found.append(("name", f"must be a string, got {_shown(profile.name)}"))
    for key in ("timeout", "heartbeat_timeout"):
        value = getattr(profile, key)
        if value is None and key == "heartbeat_timeout":
            continue
        why, _ = duration_problem(value, positive=True)
        if why:
            found.append((key, why))
    retry = profile.retry
    if not isinstance(retry, Retry):
        found.append(("retry", f"must be Retry(...), got {_shown(retry)}"))
        return found
    return found + [(f"retry.{k}", why) for k, why in retry_problems(retry)]


def retry_problems(retry: Retry) -> list[tuple[str, str]]:
    """What is wrong with a retry policy, as ``(field, why)`` pairs (see profile_problems)."""
    found: list[tuple[str, str]] = []
    attempts = retry.max_attempts
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        found.append(("max_attempts", f"must be an integer, got {_shown(attempts)}"))
    elif not 0 <= attempts <= MAX_ATTEMPTS:
        found.append(
            ("max_attempts", f"must be 0 (unlimited) to {MAX_ATTEMPTS}, got {_cut(str(attempts))}")
        )
    coefficient = retry.backoff_coefficient
    if not isinstance(coefficient, int | float) or isinstance(coefficient, bool):
        found.append(("backoff_coefficient", f"must be a number, got {_shown(coefficient)}"))
    elif not 1 <= coefficient <= MAX_BACKOFF:  # NaN fails this too
        found.append(
            (
                "backoff_coefficient",
                f"must be from 1 to {MAX_BACKOFF:g}, got {_cut(repr(coefficient))}",
            )
        )
    why, initial = duration_problem(retry.initial_interval, positive=True)
    if why:
        found.append(("initial_interval", why))
    if retry.maximum_interval is not None:
        why, maximum = duration_problem(retry.maximum_interval, positive=True)
        if why:
            found.append(("maximum_interval", why))
        elif maximum < initial:
            found.append(
                (
                    "maximum_interval",
                    f"{retry.maximum_interval!r} is shorter than initial_interval "
                    f"{retry.initial_interval!r}",
                )
            )
    errors = retry.non_retryable_error_types
    if not isinstance(errors, tuple | list) or not all(isinstance(e, str) and e for e in errors):
        found.append(
            (
                "non_retryable_error_types",
                f"must be a list of error type names, got {_shown(errors)}",
            )
        )
    return found


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
            non_retryable_error_types=(ErrorType.READINESS_FAILED,),
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
