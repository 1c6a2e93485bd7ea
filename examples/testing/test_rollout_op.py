"""Unit tests of the rollout Op with fake activities: no command runs, nothing waits.

Run them with `pytest` in this folder.
"""

from pathlib import Path

from chant.testing import fails, hangs, raises, returns, run_op

PROJECT = Path(__file__).parent
DEPLOYED = returns({"exit_code": 0, "stdout": "deployed 1.4.2\n", "stderr": ""})
REFUSED = raises("CommandFailedError", "command exited with 1: cluster said no")


def test_a_flaky_deploy_is_retried_and_the_rollout_succeeds():
    run = run_op(
        "rollout", project=PROJECT, fakes={"deploy.1": fails(2, error=REFUSED, then=DEPLOYED)}
    )

    assert run.status == "ok"
    assert run.steps["deploy.1"].attempts == 3
    assert run.sleeps == (5.0, 10.0)  # the profile's backoff, recorded, not waited
    assert run.outcomes == {"Version": "deployed 1.4.2\n"}
    assert "rollback.1" not in run.steps  # on_failure did not run


def test_a_deploy_that_keeps_failing_is_rolled_back():
    run = run_op("rollout", project=PROJECT, fakes={"deploy.1": REFUSED})

    assert run.status == "failed"
    assert run.result.failed_step == "deploy.1"
    assert run.steps["deploy.1"].attempts == 3
    assert run.steps["verify.1"].status == "skipped"
    assert run.steps["rollback.1"].status == "ok"
    assert [c.args["cmd"] for c in run.calls_to("rollback.1")] == ["echo rolling back to 1.4.1"]
    assert "compensation_started" in run.event_types


def test_a_failed_build_stops_the_other_and_nothing_is_deployed():
    run = run_op(
        "rollout",
        project=PROJECT,
        fakes={
            "build.1": raises("CommandFailedError", "command exited with 1: disk full"),
            "build.2": hangs(),  # still building when build.1 fails
        },
    )

    assert run.status == "failed"
    assert run.steps["build.1"].attempts == 3  # shell's default profile retries it
    assert run.steps["build.2"].status == "cancelled"
    assert run.steps["build.2"].error == {
        "type": "Cancelled",
        "message": "cancelled: a sibling failed (fail_fast)",
    }
    assert run.calls_to("deploy.1") == []
    assert run.steps["rollback.1"].status == "ok"
