"""Resolving declared Ops into runnable IR, and the checks that come with it."""

from __future__ import annotations

import inspect

import pytest

from chant import Op, Profile, Retry, activity, gate, phase, secret, shell
from chant.cron import parse_schedule
from chant.errors import GateNotSupportedError, Problem, SecretNotSetError
from chant.ir import ActivityStep, Step
from chant.names import slug, suggest, where
from chant.plan import (
    check_local,
    check_project,
    gates,
    resolve_op,
)
from chant.profiles import BUILTIN_PROFILES, DURATION_HELP
from chant.secrets import secret_values

ACTIVITIES = {"shell": "fast_idempotent", "http_check": "k8s_wait"}


def resolve(op: Op, profiles: dict[str, Profile] | None = None) -> tuple[Op, list[str]]:
    problems: list[Problem] = []
    out = resolve_op(op, profiles=profiles or {}, activities=ACTIVITIES, problems=problems)
    return out, [p.message for p in problems]


def steps(op: Op) -> list[Step]:
    return [s for p, _ in op.all_phases() for s in p.steps]


def the_step(op: Op) -> ActivityStep:
    step = steps(op)[0]
    assert isinstance(step, ActivityStep)
    return step


def one(*items: Step, **op: object) -> Op:
    return Op(name="a", phases=[phase("Work", list(items))], **op)  # type: ignore[arg-type]


# --- ids ---------------------------------------------------------------------------


def test_step_ids_are_the_phase_slug_and_a_one_based_index() -> None:
    op = Op(
        name="a",
        phases=[phase("Roll out App", [shell("a"), shell("b")]), phase("Check", [shell("c")])],
        on_failure=[phase("Undo!", [shell("d")])],
    )
    resolved, problems = resolve(op)
    assert problems == []
    assert [s.id for s in steps(resolved)] == [
        "roll-out-app.1",
        "roll-out-app.2",
        "check.1",
        "undo.1",
    ]


def test_a_given_step_id_is_kept() -> None:
    resolved, _ = resolve(one(shell("a"), shell("b", id="second")))
    assert [s.id for s in steps(resolved)] == ["work.1", "second"]


def test_gates_get_ids_like_any_step() -> None:
    resolved, _ = resolve(one(gate("approve")))
    assert [s.id for s in steps(resolved)] == ["work.1"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Roll out App", "roll-out-app"), ("  Build & Test  ", "build-test"), ("!!!", "phase")],
)
def test_slug_makes_a_lowercase_dashed_phase_part(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_a_duplicate_step_id_is_a_problem() -> None:
    _, problems = resolve(one(shell("a", id="x"), shell("b", id="x")))
    assert len(problems) == 1
    assert problems[0].startswith('op "a": duplicate step id "x" (first declared at ')


def test_a_given_id_colliding_with_an_assigned_one_is_a_problem() -> None:
    _, problems = resolve(one(shell("a"), shell("b", id="work.1")))
    assert len(problems) == 1
    assert problems[0].startswith('op "a": duplicate step id "work.1"')


# --- profiles ----------------------------------------------------------------------


def test_a_step_without_a_profile_gets_its_activitys_default() -> None:
    resolved, _ = resolve(one(activity("http_check", url="http://x")))
    assert the_step(resolved).profile == BUILTIN_PROFILES["k8s_wait"]


def test_a_profile_name_resolves_to_the_builtin_profile() -> None:
    resolved, _ = resolve(one(shell("a", profile="long_infra")))
    assert the_step(resolved).profile == BUILTIN_PROFILES["long_infra"]


def test_a_project_profile_is_found_by_name() -> None:
    quick = Profile(name="quick", timeout="30s")
    resolved, _ = resolve(one(shell("a", profile="quick")), {"quick": quick})
    assert the_step(resolved).profile == quick


def test_a_project_profile_replaces_a_builtin_of_the_same_name() -> None:
    mine = Profile(name="fast_idempotent", timeout="1s", retry=Retry(max_attempts=9))
    resolved, _ = resolve(one(shell("a")), {"fast_idempotent": mine})
    assert the_step(resolved).profile == mine


def test_an_inline_profile_is_kept_as_written() -> None:
    inline = Profile(timeout="10s", retry=Retry(max_attempts=5, initial_interval="1s"))
    resolved, _ = resolve(one(shell("a", profile=inline)))
    assert the_step(resolved).profile == inline


def test_an_unknown_profile_is_a_problem_with_a_suggestion() -> None:
    _, problems = resolve(one(shell("a", profile="long_infr")))
    assert problems == ['op "a": step "work.1": unknown profile \'long_infr\'']


def test_an_unknown_profile_hint_suggests_the_closest_name() -> None:
    problems: list[Problem] = []
    resolve_op(
        one(shell("a", profile="long_infr")), profiles={}, activities=ACTIVITIES, problems=problems
    )
    assert problems[0].hint == (
        'did you mean "long_infra"? (profiles come from the built-ins and [profiles.*] in '
        "chant.toml)"
    )


def test_a_bad_duration_in_an_inline_profile_is_a_problem() -> None:
    _, problems = resolve(one(shell("a", profile=Profile(timeout="5 minutes"))))
    assert problems == [
        'op "a": step "work.1" profile timeout: bad duration \'5 minutes\': '
        "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"
    ]


def test_a_bad_retry_interval_in_an_inline_profile_is_a_problem() -> None:
    profile = Profile(retry=Retry(initial_interval="soon"))
    _, problems = resolve(one(shell("a", profile=profile)))
    assert problems == [
        'op "a": step "work.1" profile retry initial_interval: bad duration \'soon\': '
        "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"
    ]


def test_negative_max_attempts_is_a_problem() -> None:
    _, problems = resolve(one(shell("a", profile=Profile(retry=Retry(max_attempts=-1)))))
    assert problems == [
        'op "a": step "work.1" profile retry max_attempts: must be 0 (unlimited) to 2147483647, '
        "got -1"
    ]


def test_a_bad_gate_timeout_is_a_problem() -> None:
    _, problems = resolve(one(gate("approve", timeout="two days")))
    assert problems == [
        'op "a": gate "approve" timeout: bad duration \'two days\': '
        "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"
    ]


# --- shape of the Op ---------------------------------------------------------------


def test_an_op_without_phases_is_a_problem() -> None:
    _, problems = resolve(Op(name="a", phases=[]))
    assert problems == ['op "a": has no phases']


def test_a_phase_without_steps_is_a_problem() -> None:
    _, problems = resolve(Op(name="a", phases=[phase("Empty", [])]))
    assert problems == ['op "a": phase "Empty" has no steps']


def test_an_unknown_activity_is_a_problem_with_a_suggestion() -> None:
    problems: list[Problem] = []
    resolve_op(
        one(activity("shel", cmd="x")), profiles={}, activities=ACTIVITIES, problems=problems
    )
    assert [(p.message, p.hint) for p in problems] == [
        ('op "a": step "work.1": unknown activity "shel"', 'did you mean "shell"?')
    ]


def test_a_name_that_is_not_kebab_case_is_a_problem() -> None:
    _, problems = resolve(Op(name="Deploy_API", phases=[phase("P", [shell("a")])]))
    assert problems == ["op \"Deploy_API\": name 'Deploy_API' is not kebab-case"]


def test_fail_fast_without_parallel_is_a_problem() -> None:
    _, problems = resolve(Op(name="a", phases=[phase("P", [shell("a")], fail_fast=True)]))
    assert problems == ['op "a": phase "P": fail_fast and max_concurrency need parallel=True']


def test_max_concurrency_below_one_is_a_problem() -> None:
    op = Op(name="a", phases=[phase("P", [shell("a")], parallel=True, max_concurrency=0)])
    _, problems = resolve(op)
    assert problems == ['op "a": phase "P": max_concurrency must be a positive integer, got int 0']


def test_an_argument_that_is_not_json_data_is_a_problem() -> None:
    _, problems = resolve(one(activity("shell", cmd={1, 2})))
    assert problems == ['op "a": step "work.1": argument value {1, 2} is not JSON data']


class _Unshowable:
    """A user's object whose repr, str, == and hash all fail."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")


def test_objects_whose_repr_fails_are_problems_not_an_internal_error() -> None:
    odd = _Unshowable()
    _, problems = resolve(one(shell("x", env=odd)))  # type: ignore[arg-type]
    assert problems == ['op "a": step "work.1": argument value <_Unshowable> is not JSON data']
    _, problems = resolve(one(activity("shell", cmd={1.5: "x", "a": [odd]})))
    assert problems == [
        'op "a": step "work.1": argument keys must be strings, got 1.5',
        'op "a": step "work.1": argument value <_Unshowable> is not JSON data',
    ]
    op = Op(name="a", phases=[phase("P", [shell("a")])], schedule=odd)  # type: ignore[arg-type]
    _, problems = resolve(op)
    assert problems == [
        'op "a": schedule <_Unshowable>: it is neither a cron expression nor an interval'
    ]
    long = "a\x00" + "b" * 100
    _, problems = resolve(one(activity("shell", cmd=long)))
    assert problems == [f'op "a": step "work.1": argument {repr(long)[:60]}… holds a NUL byte']


def test_problems_in_on_failure_phases_are_found_too() -> None:
    op = Op(name="a", phases=[phase("P", [shell("a")])], on_failure=[phase("Undo", [])])
    _, problems = resolve(op)
    assert problems == ['op "a": phase "Undo" has no steps']


def test_every_problem_in_an_op_is_collected_in_one_pass() -> None:
    op = Op(
        name="a",
        phases=[
            phase("P", [activity("shel"), shell("b", profile="nope")]),
            phase("Empty", []),
        ],
    )
    _, problems = resolve(op)
    assert problems == [
        'op "a": step "p.1": unknown activity "shel"',
        'op "a": step "p.2": unknown profile \'nope\'',
        'op "a": phase "Empty" has no steps',
    ]


def test_a_problem_points_at_the_file_and_line_that_declared_it() -> None:
    problems: list[Problem] = []
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    step = activity("shel")
    resolve_op(one(step), profiles={}, activities=ACTIVITIES, problems=problems)
    assert step.origin == f"{__file__}:{line}"
    assert problems[0].where == where(step.origin)


# --- across Ops --------------------------------------------------------------------


def test_duplicate_op_names_are_a_problem_naming_both_declarations() -> None:
    first = Op(name="a", phases=[phase("P", [shell("a")])])
    second = Op(name="a", phases=[phase("P", [shell("b")])])
    problems: list[Problem] = []
    check_project([(first, "one.op.py"), (second, "two.op.py")], problems)
    assert [p.message for p in problems] == [
        f'duplicate Op name "a": declared at {where(first.origin)} and at {where(second.origin)}'
    ]


def test_depending_on_an_unknown_op_is_a_problem_with_a_suggestion() -> None:
    base = Op(name="base", phases=[phase("P", [shell("a")])])
    app = Op(name="app", phases=[phase("P", [shell("a")])], depends=["bse"])
    problems: list[Problem] = []
    check_project([(base, "a.op.py"), (app, "a.op.py")], problems)
    assert [(p.message, p.hint) for p in problems] == [
        ('op "app": depends on unknown Op "bse"', 'did you mean "base"?')
    ]


def test_suggest_lists_the_known_names_when_none_is_close() -> None:
    assert suggest("zzz", ["alpha", "beta"]) == "known: alpha, beta"


def test_suggest_says_when_nothing_is_defined() -> None:
    assert suggest("zzz", []) == "none are defined"


# --- local mode and secrets --------------------------------------------------------


def test_gates_are_found_in_phases_and_on_failure_with_their_phase() -> None:
    op = Op(
        name="a",
        phases=[phase("Approve", [gate("go")])],
        on_failure=[phase("Confirm undo", [gate("undo-ok")])],
    )
    assert [(g.signal, name) for g, name in gates(op)] == [
        ("go", "Approve"),
        ("undo-ok", "Confirm undo"),
    ]


def test_check_local_rejects_a_gate_naming_it_its_phase_and_the_fix() -> None:
    op = Op(name="a", phases=[phase("Build", [shell("x")]), phase("Approve", [gate("go")])])
    with pytest.raises(GateNotSupportedError) as err:
        check_local(op)
    assert err.value.exit_code == 2
    assert str(err.value) == (
        'op "a" has gate "go" in phase "Approve": gates wait for a human signal and need '
        "Temporal; local mode cannot run them\n"
        "  hint: run it on Temporal: chant run a --temporal"
    )


def test_check_local_rejects_a_gate_in_on_failure() -> None:
    op = Op(name="a", phases=[phase("P", [shell("x")])], on_failure=[phase("Undo", [gate("ok")])])
    with pytest.raises(GateNotSupportedError) as err:
        check_local(op)
    assert 'gate "ok" in phase "Undo"' in str(err.value)


def test_check_local_accepts_an_op_without_gates() -> None:
    check_local(Op(name="a", phases=[phase("P", [shell("x")])]))


def test_secret_values_are_read_from_the_environment() -> None:
    op = one(shell("x", env={"A": secret("TOKEN_A")}), shell(secret("TOKEN_B")))
    assert secret_values(op, {"TOKEN_A": "1", "TOKEN_B": "2", "OTHER": "3"}) == {
        "TOKEN_A": "1",
        "TOKEN_B": "2",
    }


def test_every_missing_secret_is_named_at_once() -> None:
    op = one(shell("x", env={"A": secret("TOKEN_B")}), shell(secret("TOKEN_A")))
    with pytest.raises(SecretNotSetError) as err:
        secret_values(op, {})
    assert err.value.exit_code == 2
    assert str(err.value) == (
        'op "a" needs secret(s) not set (or empty) in the environment: TOKEN_A, TOKEN_B\n'
        "  hint: export TOKEN_A=… before running (the value is masked as *** in all output)"
    )


# --- schedules ---------------------------------------------------------------------

SCHEDULE_HINT = (
    'write a 5-field cron expression such as "*/5 * * * *" or "0 3 * * MON-FRI" '
    '(minute hour day-of-month month day-of-week), or an interval such as "every 1h"'
)


@pytest.mark.parametrize(
    "schedule",
    ["*/5 * * * *", "0 3 * * MON-FRI", "0 0 1,15 jan-jun 0-7", "30 2 * * sun", "every 2s"],
)
def test_cron_expressions_and_intervals_are_accepted_schedules(schedule: str) -> None:
    _, problems = resolve(one(shell("a"), schedule=schedule))
    assert problems == []


def test_parse_schedule_gives_an_intervals_seconds_and_none_for_cron() -> None:
    assert parse_schedule("every 1h30m") == 5400
    assert parse_schedule("*/5 * * * *") is None


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ("0 3 * *", "it has 4 fields, but a cron expression has 5"),
        ("daily", "it has 1 field, but a cron expression has 5"),
        ("61 * * * *", 'minute "61": 61 is out of range 0-59'),
        ("* * * 13 *", 'month "13": 13 is out of range 1-12'),
        ("* * * * FUNDAY", 'day of week "FUNDAY": "FUNDAY" is not a number or a name (SUN/MON/…)'),
        ("*/0 * * * *", 'minute "*/0": the step after / must be a whole number of at least 1'),
        ("1-2-3 * * * *", 'minute "1-2-3": "1-2-3" is not *, a value or a range a-b'),
        ("0 3? * * *", 'hour "3?": "3?" is not a number'),
        ("every 500ms", "the interval is shorter than 1s"),
        ("every 1 h", 'an interval is "every" and one duration, like "every 1h"'),
        ("every 1x", "bad duration '1x': " + DURATION_HELP),
        ("   ", "it is neither a cron expression nor an interval"),
    ],
)
def test_a_malformed_schedule_is_a_problem_saying_what_is_wrong_and_both_forms(
    schedule: str, why: str
) -> None:
    problems: list[Problem] = []
    resolve_op(
        one(shell("a"), schedule=schedule), profiles={}, activities=ACTIVITIES, problems=problems
    )
    assert [(p.message, p.hint) for p in problems] == [
        (f'op "a": schedule "{schedule}": {why}', SCHEDULE_HINT)
    ]


def test_a_schedule_that_is_not_a_string_is_a_problem() -> None:
    _, problems = resolve(one(shell("a"), schedule=5))
    assert problems == ['op "a": schedule 5: it is neither a cron expression nor an interval']
