"""A pretend rollout: parallel builds, a retried deploy, and a rollback on failure.

    chant run rollout             # succeeds
    FAIL=1 chant run rollout      # the deploy fails twice, then Rollback runs; exit 1
"""

from chant import Op, Outcome, Profile, Retry, phase, shell

RETRY_QUICKLY = Profile(timeout="30s", retry=Retry(max_attempts=2, initial_interval="1s"))

rollout = Op(
    name="rollout",
    overview="Build two images in parallel, deploy with a retry, roll back if it fails",
    phases=[
        phase(
            "Build",
            [
                shell("echo building api; sleep 0.3; echo api:1.4.2"),
                shell("echo building web; sleep 0.2; echo web:1.4.2"),
            ],
            parallel=True,
        ),
        phase(
            "Deploy",
            [
                shell(
                    'if [ -n "$FAIL" ]; then echo "cluster said no" >&2; exit 1; fi; '
                    "echo deployed 1.4.2",
                    profile=RETRY_QUICKLY,
                    outcome=Outcome("Version", "stdout"),
                ),
            ],
        ),
    ],
    on_failure=[phase("Rollback", [shell("echo rolling back to 1.4.1")])],
)
