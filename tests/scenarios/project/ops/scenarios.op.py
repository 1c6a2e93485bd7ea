"""Fixture Ops run through both executors by tests/scenarios/test_parity.py.

Steps keep their state in files under the project folder (the working directory of
every step in both modes), so a retry can succeed on its second attempt."""

import os

from chant import ActivityError, Op, Outcome, Profile, Retry, activity, phase, secret, shell

once = Profile(timeout="30s", retry=Retry(max_attempts=1))
twice = Profile(timeout="30s", retry=Retry(max_attempts=2, initial_interval="1s"))
thrice = Profile(timeout="30s", retry=Retry(max_attempts=3, initial_interval="1s"))


class QuotaExceededError(ActivityError):
    NON_RETRYABLE = True


@activity
def drift_report() -> dict:
    return {"drift": True, "changed": ["deployment/web"], "count": 1}


@activity
def over_quota() -> dict:
    raise QuotaExceededError("quota exceeded: 12 of 10 CPUs")


happy = Op(
    name="happy",
    phases=[
        phase("Greet", [shell("echo hello", outcome=Outcome("Greeting", "stdout"))]),
        phase("Look", [shell("echo one"), shell("echo two")], parallel=True),
    ],
)

retry_then_success = Op(
    name="retry-then-success",
    phases=[
        phase(
            "Flaky",
            [
                shell(
                    "n=$(cat state/flaky 2>/dev/null || echo 0); n=$((n+1)); echo $n > state/flaky;"
                    " echo attempt $n; [ $n -ge 2 ]",
                    profile=thrice,
                )
            ],
        ),
    ],
)

exhausted = Op(
    name="exhausted",
    phases=[
        phase("Deploy", [shell("echo deploying; exit 3", profile=twice)]),
        phase("Verify", [shell("echo never")]),
    ],
    on_failure=[
        phase("Roll back", [shell("echo rollback >> state/compensation")]),
        phase("Notify", [shell("echo notify >> state/compensation")]),
    ],
)

timeout = Op(
    name="timeout",
    phases=[
        phase(
            "Hang",
            [
                shell(
                    "sleep 60 & echo $! > state/orphan.pid; wait",
                    profile=Profile(timeout="2s", retry=Retry(max_attempts=1)),
                )
            ],
        ),
    ],
)

non_retryable = Op(
    name="non-retryable",
    phases=[
        phase(
            "Check",
            [
                activity("over_quota", profile=thrice),
                shell(
                    "exit 1",
                    profile=Profile(
                        retry=Retry(
                            max_attempts=3, non_retryable_error_types=["CommandFailedError"]
                        )
                    ),
                ),
            ],
            parallel=True,
        ),
    ],
)

parallel = Op(
    name="parallel",
    phases=[
        phase(
            "Fan out",
            [
                shell("sleep 0.2; exit 1", profile=once),
                shell("sleep 1; echo slow sibling done"),
                shell("echo quick sibling"),
            ],
            parallel=True,
        ),
        phase("Later", [shell("echo never")]),
    ],
)

fail_fast = Op(
    name="fail-fast",
    phases=[
        phase(
            "Fan out",
            [
                shell("sleep 0.2; exit 1", profile=once),
                shell("sleep 20 & echo $! > state/sibling.pid; wait"),
            ],
            parallel=True,
            fail_fast=True,
        ),
    ],
    on_failure=[phase("Clean up", [shell("echo cleaned")])],
)

outcomes = Op(
    name="outcomes",
    phases=[
        phase(
            "Observe",
            [
                activity("drift_report", outcome=Outcome("Drift", "drift")),
                shell("echo 3", outcome=Outcome("Replicas", "stdout")),
            ],
        ),
    ],
)

failing_compensation = Op(
    name="failing-compensation",
    phases=[phase("Deploy", [shell("exit 1", profile=once)])],
    on_failure=[
        phase("Undo", [shell("echo undo-1; exit 2", profile=once), shell("echo undo-2")]),
        phase("Report", [shell("echo reported")]),
    ],
)

secrets = Op(
    name="secrets",
    phases=[
        phase(
            "Use",
            [
                shell("echo token=$TOKEN", env={"TOKEN": secret("PARITY_TOKEN")}),
                shell(
                    "echo bad token $TOKEN >&2; exit 1",
                    env={"TOKEN": secret("PARITY_TOKEN")},
                    profile=once,
                ),
            ],
        ),
    ],
)

_ = os  # steps use relative paths: both executors run them from the project root
