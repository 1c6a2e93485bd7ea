"""Build an image, deploy it to the environment given as a parameter, smoke-test it in
prod only, and roll back to the image that ran before when anything fails.

    chant run release version=1.5.0                 # staging: the smoke test is skipped
    chant run release version=1.5.0 env=prod        # prod: smoke-tested
    FAIL_SMOKE=1 chant run release version=1.6.0 env=prod   # rolls back to 1.5.0
"""

from chant import Op, Outcome, Param, Profile, Retry, out, param, phase, shell

ONCE = Profile(timeout="1m", retry=Retry(max_attempts=1))

release = Op(
    name="release",
    overview="Build, deploy to an environment, smoke-test prod, roll back on failure",
    params={
        "version": Param(str, help="the version to build and deploy, e.g. 1.5.0"),
        "env": Param(str, default="staging", choices=["staging", "prod"], help="where to"),
        "replicas": Param(int, default=2, help="how many replicas to run"),
    },
    phases=[
        phase("Build", [shell(f"sh bin/deployctl build {param('version')}", id="build")]),
        # Captured before the deploy, so a rollback knows what to go back to.
        phase("Capture", [shell(f"sh bin/deployctl current {param('env')}", id="previous")]),
        phase(
            "Deploy",
            [
                shell(
                    f"sh bin/deployctl deploy {param('env')} {out('build', 'stdout')}"
                    f" {param('replicas')}",
                    id="deploy",
                    profile=ONCE,
                    outcome=Outcome("Deployed", "stdout"),
                ),
            ],
        ),
        phase(
            "Smoke test",
            [shell(f"sh bin/deployctl smoke {param('env')}", id="smoke", profile=ONCE)],
            when=param("env") == "prod",
        ),
    ],
    on_failure=[
        phase(
            "Roll back",
            [
                shell(
                    f"sh bin/deployctl deploy {param('env')} {out('previous', 'stdout')}"
                    f" {param('replicas')}",
                    id="rollback",
                ),
            ],
            # Nothing ran there before this release: nothing to go back to.
            when=out("previous", "stdout") != "none",
        ),
    ],
)
