"""The Op both report tests run, locally (tests/cli/test_junit.py) and on Temporal
(tests/temporal/test_reports_temporal.py), so that their reports can be compared: a
parallel phase, a step skipped by a condition, a secret in a retried step that fails
with ``FAIL`` set, and a rollback. A ``str.format`` template of the Op's ``name``."""

REPORT_OP = """
from chant import Op, Outcome, Param, Profile, Retry, param, phase, secret, shell

QUICK = Profile(timeout="10s", retry=Retry(max_attempts=2, initial_interval="10ms"))
DEPLOY = (
    'echo "token=$TOKEN"; '
    'if [ -n "$FAIL" ]; then echo "cluster said no: $TOKEN" >&2; exit 1; fi; echo deployed'
)

op = Op(
    name="{name}",
    params={{"env": Param(str, default="staging")}},
    phases=[
        phase("Build", [
            shell("echo building api", id="api"),
            shell("echo building web; echo careful >&2", id="web"),
        ], parallel=True),
        phase("Deploy", [
            shell("echo smoke", id="smoke", when=param("env") == "prod"),
            shell(DEPLOY, id="deploy", profile=QUICK, env={{"TOKEN": secret("TOKEN")}},
                  outcome=Outcome("Deployed", "stdout")),
        ]),
        phase("Verify", [shell("echo verified", id="verify")]),
    ],
    on_failure=[phase("Rollback", [shell("echo rolling back", id="rollback")])],
)
"""
