"""Fixture Ops run through both executors by tests/scenarios/test_parity.py.

Steps keep their state in files under the project folder (the working directory of
every step in both modes), so a retry can succeed on its second attempt."""

import os
from typing import TypedDict

from chant import (
    ActivityError,
    Op,
    Outcome,
    Param,
    Profile,
    Retry,
    activity,
    out,
    outcome,
    param,
    phase,
    secret,
    shell,
)

once = Profile(timeout="30s", retry=Retry(max_attempts=1))
twice = Profile(timeout="30s", retry=Retry(max_attempts=2, initial_interval="1s"))
thrice = Profile(timeout="30s", retry=Retry(max_attempts=3, initial_interval="1s"))


class QuotaExceededError(ActivityError):
    NON_RETRYABLE = True


@activity
def drift_report() -> dict:
    return {"drift": True, "changed": ["deployment/web"], "count": 1}


class Image(TypedDict):
    name: str
    tag: str


class Built(TypedDict):
    image: Image
    layers: list[str]


@activity
def build_image(name: str, tag: str) -> Built:
    return {"image": {"name": name, "tag": tag}, "layers": ["base", name]}


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

data_flow = Op(
    name="data-flow",
    params={
        "version": Param(str, help="image tag"),
        "env": Param(str, default="staging", choices=["staging", "prod"]),
        "replicas": Param(int, default=2),
        "canary": Param(bool, default=False),
        "regions": Param(list[str], default=["eu"]),
        "ratio": Param(float, default=0.5),
    },
    phases=[
        phase(
            "Build",
            [
                activity("build_image", name="shop", tag=param("version"), id="build"),
                shell("cat state/previous 2>/dev/null || echo none", id="previous"),
            ],
        ),
        phase(
            "Deploy",
            [
                shell(
                    f"echo deploying $IMAGE:{out('build', 'image.tag')} to {param('env')}"
                    f" x{param('replicas')} canary={param('canary')} ratio={param('ratio')}"
                    f' "regions=$REGIONS"; echo {param("version")} > state/previous',
                    env={"IMAGE": out("build", "image.name"), "REGIONS": f"{param('regions')}"},
                    id="deploy",
                    outcome=Outcome("Deployed", "stdout"),
                ),
                shell(f"echo 'layers {out('build', 'layers')}' first={out('build', 'layers.0')}"),
            ],
        ),
        phase(
            "Report",
            [shell(f"echo 'reported: {outcome('Deployed')} after {out('previous', 'stdout')}'")],
        ),
    ],
)

conditions = Op(
    name="conditions",
    params={
        "env": Param(str, default="staging", choices=["staging", "prod"]),
        "force": Param(bool, default=False),
        "min": Param(int, default=2),
    },
    phases=[
        phase("Check", [shell("echo 3", id="check", outcome=Outcome("Count", "stdout"))]),
        phase(
            "Gates",
            [
                shell("echo prod only", id="prod-only", when=param("env") == "prod"),
                shell("echo not prod", id="not-prod", when=param("env") != "prod"),
                shell(
                    "echo enough",
                    id="enough",
                    when=(outcome("Count") == "3") & (param("min") <= 3),
                ),
                shell("echo forced", id="forced", when=param("force") | ~param("force")),
                shell("echo listed", id="listed", when=param("env").is_in(["prod"])),
            ],
        ),
        phase(
            "Smoke test",
            [shell("echo smoke", id="smoke-1"), shell("echo smoke", id="smoke-2")],
            when=(param("env") == "prod") | param("force"),
            parallel=True,
        ),
        phase("After", [shell(f"echo after {out('check', 'stdout')}", id="after")]),
    ],
)

unresolved = Op(
    name="unresolved",
    phases=[
        phase("Capture", [shell("echo v1", id="previous")]),
        phase(
            "Deploy",
            [
                activity("drift_report", id="report"),
                # drift_report declares no result shape (a plain dict): the path is
                # checked when the step starts, and is missing.
                shell(f"echo {out('report', 'summary')}", id="deploy", profile=thrice),
            ],
        ),
        phase("Verify", [shell("echo never", id="verify")]),
    ],
    on_failure=[
        phase(
            "Roll back",
            [
                shell(f"echo back to {out('previous', 'stdout')}", id="rollback"),
                shell(f"echo {out('deploy', 'stdout')}", id="needs-deploy"),
                shell(f"echo {out('deploy', 'stdout', default='none')}", id="defaulted"),
                shell("echo skipped", id="when-missing", when=out("deploy", "exit_code") == 0),
            ],
        ),
    ],
)

masked_flow = Op(
    name="masked-flow",
    params={"user": Param(str, default="ann")},
    phases=[
        phase(
            "Login",
            [shell(f"echo login {param('user')}:{secret('PARITY_TOKEN')}", id="login")],
        ),
        phase("Again", [shell(f"echo again {out('login', 'stdout')}", id="again")]),
    ],
)

_ = os  # steps use relative paths: both executors run them from the project root
