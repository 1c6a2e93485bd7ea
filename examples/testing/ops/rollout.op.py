"""A rollout: build two images (a failed build stops the other), deploy with retries,
check the new version, and roll back if anything fails.

    chant run rollout       # runs the commands for real (they only echo)
    pytest                  # unit-tests it with fakes: test_rollout_op.py
"""

from chant import Op, Outcome, phase, shell

rollout = Op(
    name="rollout",
    overview="Build, deploy with retries, verify; roll back on failure",
    phases=[
        phase(
            "Build",
            [
                shell("echo building api; echo api:1.4.2"),
                shell("echo building web; echo web:1.4.2"),
            ],
            parallel=True,
            fail_fast=True,
        ),
        phase(
            "Deploy",
            [shell("echo deployed 1.4.2", profile="deploy", outcome=Outcome("Version", "stdout"))],
        ),
        phase("Verify", [shell("echo healthy")]),
    ],
    on_failure=[phase("Rollback", [shell("echo rolling back to 1.4.1")])],
)
