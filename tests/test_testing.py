"""chant.testing: an Op run through the real walk with fake activities and a fake clock."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Outcome, Profile, Retry, activity, gate, phase, secret, shell
from chant.activities.registry import default_registry
from chant.errors import OpNotFoundError, SecretNotSetError, UsageError, ValidationError
from chant.testing import (
    SHELL_OK,
    Call,
    FakeRun,
    approve,
    fails,
    hangs,
    interrupts,
    raises,
    returns,
    run_op,
    run_op_async,
    sequence,
    times_out,
)
from conftest import Ran

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "testing"
QUICK = Profile(timeout="30s", retry=Retry(max_attempts=3, initial_interval="2s"))


def deploy_op(outcome: Outcome | None = None) -> Op:
    return Op(
        name="deploy",
        phases=[
            phase("Build", [shell("make api"), shell("make web")], parallel=True, fail_fast=True),
            phase("Deploy", [shell("./deploy", profile=QUICK, outcome=outcome)]),
        ],
        on_failure=[phase("Rollback", [shell("./rollback")])],
    )


def events(run: FakeRun, type_: str) -> list[Any]:
    """The events of type ``type_`` as ``--progress-json`` prints them."""
    return [json.loads(json.dumps(e.to_dict())) for e in run.events if e.type == type_]


def statuses(run: FakeRun) -> dict[str, tuple[str, int]]:
    return {k: (str(v.status), v.attempts) for k, v in run.steps.items()}


# -- scripting ---------------------------------------------------------------------


def test_a_value_scripted_by_activity_name_is_every_such_steps_result() -> None:
    run = run_op(deploy_op(), fakes={"shell": {"stdout": "done"}})
    assert run.status == "ok"
    assert {s.id: s.result for s in run.result.steps} == {
        "build.1": {"stdout": "done"},
        "build.2": {"stdout": "done"},
        "deploy.1": {"stdout": "done"},
    }


def test_a_step_id_wins_over_the_activity_name() -> None:
    run = run_op(deploy_op(), fakes={"shell": returns(1), "build.2": returns(2)})
    assert [run.steps[s].result for s in ("build.1", "build.2", "deploy.1")] == [1, 2, 1]


def test_calls_to_takes_a_step_id_or_else_an_activity_name() -> None:
    run = run_op(deploy_op())
    assert [c.step for c in run.calls_to("deploy.1")] == ["deploy.1"]
    assert sorted(c.step for c in run.calls_to("shell")) == ["build.1", "build.2", "deploy.1"]
    assert run.calls_to("rollback.1") == []


def test_a_fake_for_no_step_or_activity_of_the_op_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(UsageError) as caught:
        run_op(deploy_op(), fakes={"deploy.2": raises()})
    assert str(caught.value) == (
        'op "deploy" has no step or activity "deploy.2" to script\n  hint: did you mean "deploy.1"?'
    )


def test_a_gate_scripted_as_a_fake_or_a_gate_script_for_no_gate_is_an_error() -> None:
    with pytest.raises(UsageError) as caught:
        run_op(gated(), fakes={"go-prod": returns()})
    assert str(caught.value) == (
        'op "gated": "go-prod" is a gate, not an activity step\n'
        '  hint: script it in gates=, e.g. gates={"go-prod": approve()}'
    )
    with pytest.raises(UsageError) as caught:
        run_op(gated(), gates={"go-prd": approve()})
    assert str(caught.value) == (
        'op "gated" has no gate step or signal "go-prd" to script\n  hint: did you mean "go-prod"?'
    )


def test_a_misspelt_option_is_an_error_not_ignored() -> None:
    with pytest.raises(TypeError, match=r"^run_op\(\) got an unexpected keyword argument 'fake'$"):
        run_op(deploy_op(), fake={"deploy.1": raises()})  # type: ignore[call-arg]


def test_run_op_async_runs_in_a_running_event_loop() -> None:
    async def main() -> str:
        run = await run_op_async(deploy_op(), fakes={"deploy.1": fails(1)})
        return f"{run.status} {run.steps['deploy.1'].attempts}"

    assert asyncio.run(main()) == "ok 2"


def test_a_sink_given_sees_the_run_as_chant_run_shows_it() -> None:
    from chant.render.human import HumanRenderer

    out = io.StringIO()
    run_op(deploy_op(), fakes={"deploy.1": fails(1)}, sinks=[HumanRenderer(out)])
    assert (
        "  ↻ deploy.1 attempt 1/3 failed: ActivityError: scripted failure — retrying in 2.0s\n"
        in out.getvalue()
    )
    assert out.getvalue().endswith('Op "deploy" completed in 2.0s\n')


def test_an_unscripted_shell_step_succeeds_with_empty_output_and_exit_code_0() -> None:
    run = run_op(deploy_op())
    assert run.status == "ok"
    assert run.steps["deploy.1"].result == SHELL_OK == {"exit_code": 0, "stdout": "", "stderr": ""}


def test_an_unscripted_user_activity_returns_none_and_the_real_one_never_runs(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(
        {
            "chant.toml": "",
            "ops/ping.op.py": """
                from chant import Op, activity, phase

                @activity
                def ping_db(host: str) -> dict[str, str]:
                    raise AssertionError("the real activity must not run")

                ping = Op(name="ping", phases=[phase("P", [activity("ping_db", host="db1")])])
            """,
        }
    )
    run = run_op("ping", project=root)
    assert (run.status, run.steps["p.1"].result) == ("ok", None)
    assert run.calls == (Call(step="p.1", fn="ping_db", args={"host": "db1"}, attempt=1),)


def test_strict_fails_an_unscripted_step_at_once_naming_it() -> None:
    run = run_op(deploy_op(), fakes={"build.1": returns()}, strict=True)
    assert run.status == "failed"
    assert statuses(run)["build.2"] == ("failed", 1)
    assert run.steps["build.2"].error == {
        "type": "UnscriptedStepError",
        "message": 'step build.2: no fake for activity "shell" (strict=True); script it by '
        'step id or activity name, e.g. fakes={"build.2": returns(...)}',
    }


def test_a_callable_gets_each_call_and_its_return_value_is_the_result() -> None:
    seen: list[Call] = []

    def handler(call: Call) -> dict[str, object]:
        seen.append(call)
        call.output("line one")
        call.output("oops", "stderr")
        return {"attempt": call.attempt, "cmd": call.args["cmd"]}

    run = run_op(deploy_op(), fakes={"deploy.1": handler})
    assert run.steps["deploy.1"].result == {"attempt": 1, "cmd": "./deploy"}
    assert [(c.step, c.fn, c.attempt) for c in seen] == [("deploy.1", "shell", 1)]
    lines = [(e["stream"], e["line"]) for e in events(run, "step_output")]
    assert lines == [("stdout", "line one"), ("stderr", "oops")]


def test_an_async_callable_may_fail_an_attempt_by_raising() -> None:
    async def handler(call: Call) -> str:
        if call.attempt < 3:
            raise RuntimeError(f"attempt {call.attempt} broke")
        return "third time"

    run = run_op(deploy_op(), fakes={"deploy.1": handler})
    assert statuses(run)["deploy.1"] == ("ok", 3)
    assert run.steps["deploy.1"].result == "third time"
    retrying = events(run, "step_retrying")
    assert [r["error"] for r in retrying] == [
        {"type": "RuntimeError", "message": "attempt 1 broke"},
        {"type": "RuntimeError", "message": "attempt 2 broke"},
    ]


def test_fails_then_succeeds_records_attempts_and_the_backoff_not_waited() -> None:
    run = run_op(deploy_op(), fakes={"deploy.1": fails(2, then={"v": 9})})
    assert statuses(run)["deploy.1"] == ("ok", 3)
    assert run.sleeps == (2.0, 4.0)
    assert [e["delay_ms"] for e in events(run, "step_retrying")] == [2000, 4000]
    assert run.steps["deploy.1"].duration_ms == 6000  # on the fake clock
    assert [c.attempt for c in run.calls_to("deploy.1")] == [1, 2, 3]


def test_an_error_failing_every_attempt_runs_on_failure() -> None:
    error = raises("CommandFailedError", "command exited with 1: no cluster")
    run = run_op(deploy_op(), fakes={"deploy.1": error})
    assert run.status == "failed"
    assert run.result.failed_step == "deploy.1"
    assert run.result.error == {
        "type": "CommandFailedError",
        "message": "command exited with 1: no cluster",
    }
    assert statuses(run) == {
        "build.1": ("ok", 1),
        "build.2": ("ok", 1),
        "deploy.1": ("failed", 3),
        "rollback.1": ("ok", 1),
    }
    assert run.steps["rollback.1"].compensation is True


def test_a_non_retryable_error_fails_the_step_at_its_first_attempt() -> None:
    run = run_op(deploy_op(), fakes={"deploy.1": raises("Fatal", "no", non_retryable=True)})
    assert statuses(run)["deploy.1"] == ("failed", 1)
    assert run.sleeps == ()


def test_an_error_type_the_profile_calls_non_retryable_is_not_retried() -> None:
    profile = Profile(retry=Retry(max_attempts=5, non_retryable_error_types=["BadInput"]))
    op = Op(name="x", phases=[phase("A", [shell("a", profile=profile)])])
    run = run_op(op, fakes={"shell": raises("BadInput", "bad")})
    assert statuses(run)["a.1"] == ("failed", 1)


def test_an_exception_instance_is_raised_at_every_attempt() -> None:
    run = run_op(deploy_op(), fakes={"deploy.1": ValueError("bad value")})
    assert statuses(run)["deploy.1"] == ("failed", 3)
    assert run.steps["deploy.1"].error == {"type": "ValueError", "message": "bad value"}


def test_a_sequence_plays_one_behaviour_per_attempt_and_repeats_the_last() -> None:
    run = run_op(
        deploy_op(),
        fakes={"deploy.1": sequence(raises("A"), raises("B"), "ok")},
        no_retry=False,
    )
    errors = [e["error"]["type"] for e in events(run, "step_retrying")]
    assert errors == ["A", "B"]
    assert run.steps["deploy.1"].result == "ok"


def test_no_retry_limits_every_step_to_one_attempt() -> None:
    run = run_op(deploy_op(), fakes={"deploy.1": fails(1)}, no_retry=True)
    assert statuses(run)["deploy.1"] == ("failed", 1)
    assert run.steps["deploy.1"].error == {"type": "ActivityError", "message": "scripted failure"}


def test_fail_fast_cancels_a_sibling_still_running() -> None:
    run = run_op(
        deploy_op(), fakes={"build.1": raises("Boom", non_retryable=True), "build.2": hangs()}
    )
    assert statuses(run) == {
        "build.1": ("failed", 1),
        "build.2": ("cancelled", 1),
        "deploy.1": ("skipped", 0),
        "rollback.1": ("ok", 1),
    }


def test_an_interrupt_cancels_the_running_steps_then_on_failure_runs() -> None:
    run = run_op(deploy_op(), fakes={"build.1": interrupts(), "build.2": hangs()})
    assert run.status == "interrupted"
    assert run.result.error == {"type": "Interrupted", "message": "interrupted"}
    assert statuses(run) == {
        "build.1": ("cancelled", 1),
        "build.2": ("cancelled", 1),
        "deploy.1": ("skipped", 0),
        "rollback.1": ("ok", 1),
    }
    assert run.steps["build.2"].error == {"type": "Cancelled", "message": "interrupted"}
    assert [e["reason"] for e in events(run, "compensation_started")] == ["interrupted"]


def test_an_interrupt_during_on_failure_stops_it_and_skips_its_rest() -> None:
    op = Op(
        name="undo",
        phases=[phase("Deploy", [shell("./deploy")])],
        on_failure=[phase("Undo", [shell("./undo db"), shell("./undo dns")])],
    )
    run = run_op(op, fakes={"deploy.1": raises(non_retryable=True), "undo.1": interrupts()})
    assert run.status == "interrupted"
    assert statuses(run) == {
        "deploy.1": ("failed", 1),
        "undo.1": ("cancelled", 1),
        "undo.2": ("skipped", 0),
    }


def test_an_outcome_is_picked_from_the_scripted_result() -> None:
    op = deploy_op(outcome=Outcome("Version", "stdout"))
    run = run_op(op, fakes={"deploy.1": {"stdout": "1.4.2"}})
    assert run.outcomes == {"Version": "1.4.2"}


def test_a_result_that_is_not_json_fails_the_step_as_in_a_real_run() -> None:
    run = run_op(deploy_op(), fakes={"deploy.1": returns(object())}, no_retry=True)
    assert run.steps["deploy.1"].error == {
        "type": "ResultNotJSONError",
        "message": 'step deploy.1: activity "shell" returned a result that is not JSON: its '
        "result is a object, which is not JSON; return str, int, float, bool, None, lists and "
        "dicts with str keys (bytes, sets, tuples and paths are converted)",
    }


# -- clock, events, secrets --------------------------------------------------------


def test_events_are_those_of_a_run_with_timestamps_on_the_fake_clock() -> None:
    run = run_op(deploy_op(), fakes={"deploy.1": fails(1)})
    assert [e.seq for e in run.events] == list(range(1, len(run.events) + 1))
    assert {e.run_id for e in run.events} == {"test"}
    assert run.events[0].ts == "2026-01-01T00:00:00.000Z"
    assert run.events[-1].ts == "2026-01-01T00:00:02.000Z"
    assert run.events[-1].to_dict() == {
        "v": 1,
        "type": "run_finished",
        "seq": len(run.events),
        "ts": "2026-01-01T00:00:02.000Z",
        "run_id": "test",
        "op": "deploy",
        "ok": True,
        "status": "ok",
        "duration_ms": 2000,
        "failed_step": None,
        "error": None,
    }


def test_secret_values_reach_the_fakes_and_are_masked_in_events_and_results() -> None:
    op = Op(name="s", phases=[phase("A", [shell("login", env={"T": secret("TOKEN")})])])

    def echo(call: Call) -> str:
        env = call.args["env"]
        assert isinstance(env, dict)
        call.output(f"token is {env['T']}")
        return f"used {env['T']}"

    run = run_op(op, fakes={"a.1": echo}, secrets={"TOKEN": "hunter22"})
    assert run.calls[0].args == {"cmd": "login", "env": {"T": "hunter22"}}
    assert run.steps["a.1"].result == "used ***"
    assert run.steps["a.1"].args == {"cmd": "login", "env": {"T": {"$secret": "TOKEN"}}}
    text = json.dumps([e.to_dict() for e in run.events]) + json.dumps(run.result.to_dict())
    assert "hunter22" not in text
    assert "token is ***" in text


def test_a_secret_not_given_is_the_error_a_real_run_gives() -> None:
    op = Op(name="s", phases=[phase("A", [shell("login", env={"T": secret("TOKEN")})])])
    with pytest.raises(SecretNotSetError) as caught:
        run_op(op)
    assert str(caught.value) == (
        'op "s" needs secret(s) not set (or empty) in the environment: TOKEN\n'
        "  hint: export TOKEN=… before running (the value is masked as *** in all output)"
    )


# -- gates ---------------------------------------------------------------------------


def gated() -> Op:
    return Op(
        name="gated",
        phases=[phase("Approve", [gate("go-prod", timeout="2h")]), phase("Ship", [shell("ship")])],
    )


def test_a_gate_approved_by_the_script_passes_with_temporals_log_lines() -> None:
    run = run_op(gated(), gates={"go-prod": approve("alice", "lgtm")})
    assert statuses(run) == {"approve.1": ("ok", 1), "ship.1": ("ok", 1)}
    lines = [e["line"] for e in events(run, "step_output")]
    assert lines == [
        'waiting for signal "go-prod" (up to 2h): chant signal gated go-prod --approver NAME',
        '"go-prod" approved by alice: lgtm',
    ]
    assert run.steps["approve.1"].result == {
        "signal": "go-prod",
        "approver": "alice",
        "note": "lgtm",
        "at": "2026-01-01T00:00:00.000Z",
    }


def test_a_gate_that_gets_no_signal_times_out_on_the_fake_clock() -> None:
    run = run_op(gated(), gates={"approve.1": times_out()})
    assert run.status == "failed"
    assert statuses(run) == {"approve.1": ("failed", 1), "ship.1": ("skipped", 0)}
    assert run.steps["approve.1"].error == {
        "type": "GateTimeoutError",
        "message": 'gate "approve.1" got no "go-prod" signal within 2h',
    }
    assert run.result.duration_ms == 7_200_000


def test_an_unscripted_gate_is_approved_unless_strict() -> None:
    assert run_op(gated()).steps["approve.1"].status == "ok"
    strict = run_op(gated(), fakes={"shell": returns()}, strict=True)
    assert strict.steps["approve.1"].error == {
        "type": "UnscriptedStepError",
        "message": 'step approve.1: no fake for activity "gate" (strict=True); script it by '
        'step id or activity name, e.g. fakes={"approve.1": returns(...)}',
    }


# -- loading -------------------------------------------------------------------------


def test_an_op_is_loaded_by_name_with_the_projects_profiles(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(
        {
            "chant.toml": """
                [profiles.slow]
                retry = { max_attempts = 2, initial_interval = "7s" }
            """,
            "ops/a.op.py": """
                from chant import Op, phase, shell
                a = Op(name="a", phases=[phase("A", [shell("x", profile="slow")])])
            """,
        }
    )
    run = run_op("a", project=root, fakes={"shell": raises()})
    assert (statuses(run), run.sleeps) == ({"a.1": ("failed", 2)}, (7.0,))
    with pytest.raises(OpNotFoundError, match=r'^no Op named "b"; available: a'):
        run_op("b", project=root)


def test_a_plan_runs_as_it_is() -> None:
    from chant.planned import Plan
    from chant.project import resolve

    resolved, problems = resolve(deploy_op(), profiles={}, registry=default_registry())
    assert problems == []
    run = run_op(Plan.of(resolved), fakes={"deploy.1": fails(1)})
    assert (run.status, run.sleeps) == ("ok", (2.0,))


def test_an_op_object_is_checked_as_chant_run_checks_it() -> None:
    op = Op(name="x", phases=[phase("A", [shell("a", profile="nope")])])
    with pytest.raises(ValidationError) as caught:
        run_op(op)
    assert "unknown profile 'nope'" in str(caught.value)


def test_a_fake_for_an_activity_that_is_not_registered_makes_it_known() -> None:
    op = Op(name="x", phases=[phase("A", [activity("only_in_tests", n=1)])])
    with pytest.raises(ValidationError, match='unknown activity "only_in_tests"'):
        run_op(op)
    assert run_op(op, fakes={"only_in_tests": 5}).steps["a.1"].result == 5


# -- the same as a real run ------------------------------------------------------------

PARITY_OP = """
from chant import Op, Profile, Retry, phase, shell

R = Profile(timeout="30s", retry=Retry(max_attempts=3, initial_interval="1ms"))
parity = Op(name="parity", phases=[
    phase("One", [shell("true"), shell("true", profile=R)]),
    phase("Two", [shell("false", profile=R)]),
    phase("Three", [shell("true")]),
], on_failure=[phase("Undo", [shell("false", profile=R), shell("true")])])
"""


def test_a_run_with_fakes_matches_a_real_local_run(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"chant.toml": "", "ops/parity.op.py": PARITY_OP})
    real = chant_proc("run", "parity", "--local", "--progress-json", cwd=root)
    assert real.code == 1, real.err
    real_events = [json.loads(line) for line in real.out.splitlines()]
    failed = raises("CommandFailedError", "command exited with 1")
    fake = run_op("parity", project=root, fakes={"two.1": failed, "undo.1": failed})

    assert [e.type for e in fake.events] == [e["type"] for e in real_events]
    keys = ("step", "status", "attempts", "error")
    real_finished = [{k: e[k] for k in keys} for e in real_events if e["type"] == "step_finished"]
    fake_finished = [
        {k: e.to_dict()[k] for k in keys} for e in fake.events if e.type == "step_finished"
    ]
    assert fake_finished == real_finished
    real_result = real_events[-1]
    assert (fake.result.status, fake.result.failed_step, fake.result.error) == (
        real_result["status"],
        real_result["failed_step"],
        real_result["error"],
    )


# -- shipped -----------------------------------------------------------------------


def test_the_example_test_passes(tmp_path: Path) -> None:
    copy = tmp_path / "testing"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".chant"))
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"^3 passed in ", ran.stdout, re.M), ran.stdout


def test_the_docs_show_the_example_test_as_it_is() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    block = re.search(
        r'```python title="examples/testing/test_rollout_op.py"\n(.*?)```', page, re.S
    )
    assert block, "docs/testing.md shows examples/testing/test_rollout_op.py"
    assert block.group(1) == (EXAMPLE / "test_rollout_op.py").read_text()


def test_importing_chant_testing_does_not_import_temporalio() -> None:
    code = "import sys, chant.testing; print('temporalio' in sys.modules)"
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert ran.stdout == "False\n"


def test_a_hundred_step_op_with_retries_and_compensation_runs_in_well_under_a_second() -> None:
    # The benchmark docs/testing.md quotes; it checks each run's attempts and backoffs.
    bench = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "testing_harness.py"), "--rounds", "3"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert bench.returncode == 0, bench.stderr
    found = re.fullmatch(
        r"chant.testing, 100 steps with retries and compensation: median ([0-9.]+) ms of 3 "
        r"\(min [0-9.]+, max [0-9.]+\)\n",
        bench.stdout,
    )
    assert found, bench.stdout
    assert float(found.group(1)) < 10_000  # a sanity bound; the docs show the measured figure
