"""Durations, retry arithmetic (Temporal's semantics) and the built-in profiles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chant.ir import Profile, Retry
from chant.planned import RetryPlan
from chant.profiles import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    MAX_DURATION,
    parse_duration,
    profile_problems,
)

HELP = "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"


# --- durations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("100ms", 0.1),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1.5s", 1.5),
        ("0s", 0.0),
        ("1m30s500ms", 90.5),
    ],
)
def test_parse_duration_reads_number_unit_pairs(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 minutes", "", "5", "m5", "5s5", "5S", "-5s", " 5s", "5s "])
def test_parse_duration_rejects_malformed_text_with_the_accepted_form(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value) == f"bad duration {text!r}: {HELP}"


def test_parse_duration_rejects_a_bare_number_that_is_not_text() -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(5)  # type: ignore[arg-type]
    assert str(err.value) == f"bad duration 5: {HELP}"


# --- retry arithmetic --------------------------------------------------------------


def test_the_first_retry_waits_the_initial_interval() -> None:
    assert RetryPlan.of(Retry(initial_interval="2s", backoff_coefficient=3.0)).delay(1) == 2.0


def test_each_further_retry_waits_coefficient_times_longer() -> None:
    retry = Retry(initial_interval="1s", backoff_coefficient=2.0)
    assert [RetryPlan.of(retry).delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_a_fractional_coefficient_is_honoured() -> None:
    retry = Retry(initial_interval="100ms", backoff_coefficient=1.5)
    assert RetryPlan.of(retry).delay(3) == pytest.approx(0.1 * 1.5**2)


def test_the_wait_is_capped_at_maximum_interval() -> None:
    retry = Retry(initial_interval="1s", backoff_coefficient=2.0, maximum_interval="3s")
    assert [RetryPlan.of(retry).delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]


def test_maximum_interval_defaults_to_100_times_the_initial_interval() -> None:
    retry = Retry(initial_interval="1s", backoff_coefficient=2.0)
    assert RetryPlan.of(retry).delay(7) == 64.0
    assert RetryPlan.of(retry).delay(8) == 100.0
    assert RetryPlan.of(retry).delay(30) == 100.0


@given(
    initial_ms=st.integers(1, 100_000),
    coefficient=st.floats(1.0, 10.0),
    maximum_ms=st.none() | st.integers(1, 10_000_000),
    attempt=st.integers(1, 40),
)
def test_the_retry_delay_follows_temporals_formula(
    initial_ms: int, coefficient: float, maximum_ms: int | None, attempt: int
) -> None:
    retry = Retry(
        initial_interval=f"{initial_ms}ms",
        backoff_coefficient=coefficient,
        maximum_interval=None if maximum_ms is None else f"{maximum_ms}ms",
    )
    initial = initial_ms / 1000
    ceiling = 100 * initial if maximum_ms is None else maximum_ms / 1000
    expected = min(initial * coefficient ** (attempt - 1), ceiling)
    assert RetryPlan.of(retry).delay(attempt) == pytest.approx(expected)


def test_a_step_is_retried_until_max_attempts_is_reached() -> None:
    retry = Retry(max_attempts=3)
    assert [RetryPlan.of(retry).allows(n, "Boom", False) for n in (1, 2, 3)] == [True, True, False]


def test_max_attempts_one_never_retries() -> None:
    assert RetryPlan.of(Retry(max_attempts=1)).allows(1, "Boom", False) is False


def test_max_attempts_zero_retries_without_limit() -> None:
    retry = Retry(max_attempts=0)
    assert all(RetryPlan.of(retry).allows(n, "Boom", False) for n in (1, 2, 100, 10_000))


def test_an_error_type_listed_as_non_retryable_fails_at_once() -> None:
    retry = Retry(max_attempts=5, non_retryable_error_types=["ReadinessFailedError"])
    assert RetryPlan.of(retry).allows(1, "ReadinessFailedError", False) is False


def test_an_error_type_not_listed_is_still_retried() -> None:
    retry = Retry(max_attempts=5, non_retryable_error_types=["ReadinessFailedError"])
    assert RetryPlan.of(retry).allows(1, "CommandFailedError", False) is True


def test_an_error_marked_non_retryable_fails_at_once_even_when_unlimited() -> None:
    assert RetryPlan.of(Retry(max_attempts=0)).allows(1, "UnknownActivityError", True) is False


# --- built-in profiles -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "timeout", "heartbeat", "attempts", "first_retry", "coefficient", "non_retryable"),
    [
        ("fast_idempotent", "5m", None, 3, "5s", 2.0, ()),
        ("long_infra", "20m", "60s", 3, "30s", 2.0, ()),
        ("k8s_wait", "15m", "60s", 3, "10s", 2.0, ("ReadinessFailedError",)),
    ],
)
def test_builtin_retrying_profiles_match_the_lexicon(
    name: str,
    timeout: str,
    heartbeat: str | None,
    attempts: int,
    first_retry: str,
    coefficient: float,
    non_retryable: tuple[str, ...],
) -> None:
    p = BUILTIN_PROFILES[name]
    assert p.name == name
    assert parse_duration(p.timeout) == parse_duration(timeout)
    assert (p.heartbeat_timeout and parse_duration(p.heartbeat_timeout)) == (
        heartbeat and parse_duration(heartbeat)
    )
    assert p.retry.max_attempts == attempts
    assert parse_duration(p.retry.initial_interval) == parse_duration(first_retry)
    assert p.retry.backoff_coefficient == coefficient
    assert tuple(p.retry.non_retryable_error_types) == non_retryable


@pytest.mark.parametrize(
    ("name", "timeout", "heartbeat"),
    [("human_gate", "48h", "90s"), ("policy_check", "5m", None)],
)
def test_builtin_single_attempt_profiles_match_the_lexicon(
    name: str, timeout: str, heartbeat: str | None
) -> None:
    p = BUILTIN_PROFILES[name]
    assert p.name == name
    assert parse_duration(p.timeout) == parse_duration(timeout)
    assert (p.heartbeat_timeout and parse_duration(p.heartbeat_timeout)) == (
        heartbeat and parse_duration(heartbeat)
    )
    assert p.retry.max_attempts == 1


def test_the_builtin_profiles_are_exactly_the_five_documented() -> None:
    assert sorted(BUILTIN_PROFILES) == [
        "fast_idempotent",
        "human_gate",
        "k8s_wait",
        "long_infra",
        "policy_check",
    ]


def test_the_default_profile_is_fast_idempotent() -> None:
    assert DEFAULT_PROFILE == "fast_idempotent"


# --- bounds ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["36501d", "1000000d", "9" * 400 + "s", "99999999999999h"])
def test_a_duration_longer_than_100_years_is_refused(text: str) -> None:
    shown = text if len(text) <= 40 else text[:40] + "…"
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value) == (f"duration {shown!r} is longer than the limit of 36500d (100 years)")


def test_the_longest_duration_is_accepted_and_fits_temporal() -> None:
    from datetime import timedelta

    seconds = parse_duration("36500d")
    assert seconds == MAX_DURATION
    assert timedelta(seconds=seconds) // timedelta(microseconds=1) * 1000 < 2**63


def test_every_built_in_profile_is_within_the_bounds() -> None:
    assert {name: profile_problems(p) for name, p in BUILTIN_PROFILES.items()} == {
        name: [] for name in BUILTIN_PROFILES
    }


def test_profile_problems_name_each_field_and_its_bound() -> None:
    profile = Profile(
        timeout="0s",
        heartbeat_timeout=60,  # type: ignore[arg-type]
        retry=Retry(
            max_attempts=2**31,
            initial_interval="2s",
            backoff_coefficient=float("nan"),
            maximum_interval="1s",
            non_retryable_error_types=[5],  # type: ignore[list-item]
        ),
    )
    assert profile_problems(profile) == [
        ("timeout", "'0s' must be at least 1ms"),
        ("heartbeat_timeout", 'must be a duration string such as "30s", got int 60'),
        ("retry.max_attempts", "must be 0 (unlimited) to 2147483647, got 2147483648"),
        ("retry.backoff_coefficient", "must be from 1 to 100, got nan"),
        ("retry.maximum_interval", "'1s' is shorter than initial_interval '2s'"),
        ("retry.non_retryable_error_types", "must be a list of error type names, got tuple (5,)"),
    ]


def test_the_retry_wait_never_overflows_however_many_attempts() -> None:
    retry = Retry(max_attempts=0, initial_interval="1s", backoff_coefficient=100.0)
    assert RetryPlan.of(retry).delay(2**31 - 1) == 100.0
    capped = Retry(initial_interval="1s", backoff_coefficient=100.0, maximum_interval="36500d")
    assert RetryPlan.of(capped).delay(10_000) == MAX_DURATION
