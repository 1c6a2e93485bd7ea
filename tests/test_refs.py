"""References and conditions (chant.refs): how an Op file writes them, the JSON they
become, and what the shared walk does with them in a local run of real commands."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chant import Op, Outcome, Param, out, outcome, param, phase, secret, shell
from chant.activities.registry import default_registry
from chant.events import Event, RunResult
from chant.flow import Scope, evaluate, resolve, why_false
from chant.ir import Secret
from chant.local.executor import LocalExecutor
from chant.plan import resolve_op
from chant.planned import Plan
from chant.refs import text

# -- declared form -> IR ------------------------------------------------------------


def test_an_f_string_with_references_becomes_a_format_of_parts() -> None:
    step = shell(f"deploy {param('app')}:{out('build', 'stdout')} --to={param('env')}!")
    assert step.args["cmd"] == {
        "$format": [
            "deploy ",
            {"$param": "app"},
            ":",
            {"$out": "build", "path": "stdout"},
            " --to=",
            {"$param": "env"},
            "!",
        ]
    }


@pytest.mark.parametrize(
    ("declared", "parts"),
    [
        (lambda: f"{param('a')}", [{"$param": "a"}]),
        (lambda: f"{param('a')}{param('b')}", [{"$param": "a"}, {"$param": "b"}]),
        (lambda: "x-" + param("a"), ["x-", {"$param": "a"}]),
        (lambda: param("a") + "-x", [{"$param": "a"}, "-x"]),
        (lambda: f"{outcome('Tag')} end", [{"$outcome": "Tag"}, " end"]),
        (lambda: f"t={secret('TOKEN')}", ["t=", Secret("TOKEN")]),
        (
            lambda: f"{out('s', default='none')}",
            [{"$out": "s", "default": "none"}],
        ),
    ],
)
def test_each_way_of_putting_a_reference_in_a_string(declared: Any, parts: list[Any]) -> None:
    assert shell(declared()).args["cmd"] == {"$format": parts}


def test_a_bare_reference_is_its_json_anywhere_a_value_goes() -> None:
    step = shell("x", env={"TAG": out("build", "image.tag"), "ENV": param("env")})
    assert step.args["env"] == {
        "TAG": {"$out": "build", "path": "image.tag"},
        "ENV": {"$param": "env"},
    }


def test_steps_without_references_keep_their_arguments_as_given() -> None:
    env = {"A": "1"}
    assert shell("echo hi", env=env).args == {"cmd": "echo hi", "env": {"A": "1"}}


def test_an_op_with_references_and_conditions_round_trips_through_its_ir() -> None:
    op = Op(
        name="d",
        params={"env": Param(str, default="staging", choices=["staging", "prod"])},
        phases=[
            phase("A", [shell(f"echo {param('env')} {secret('T')}", id="a")]),
            phase(
                "B",
                [shell("echo b", when=(param("env") == "prod") & ~out("a", "stdout"))],
                when=param("env").is_in(["staging", "prod"]),
            ),
        ],
    )
    again = Op.from_dict(op.to_dict())
    assert again == op
    assert again.to_dict() == op.to_dict()


def test_ir_of_an_op_without_data_flow_has_no_new_keys() -> None:
    op = Op(name="plain", phases=[phase("A", [shell("echo a")])])
    data = op.to_dict()
    assert "params" not in data and "schedule_params" not in data
    assert "when" not in data["phases"][0]
    assert "when" not in data["phases"][0]["steps"][0]


@pytest.mark.parametrize(
    ("misuse", "message"),
    [
        (lambda: bool(param("x")), "is known only when the Op runs"),
        (lambda: param("x") == "a" and param("y"), "is known only when the Op runs"),
        (lambda: not param("x"), "is known only when the Op runs"),
        (lambda: param("x") == "a" & param("y"), "put each comparison in parentheses"),
        (lambda: param("x") | True, "put each comparison in parentheses"),
        (lambda: f"{param('n'):03d}", "takes no format spec ('03d')"),
    ],
)
def test_using_a_reference_as_a_python_value_is_a_clear_error(misuse: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        misuse()


# -- conditions -----------------------------------------------------------------------


def scope(**params: Any) -> Scope:
    s = Scope(params)
    s.results["check"] = {"drifted": True, "count": 3, "items": ["a", "b"], "stdout": "false"}
    s.states["broken"] = "failed"
    s.outcomes["Tag"] = "v2"
    return s


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (param("env") == "prod", True),
        (param("env") != "prod", False),
        (param("n") == 3, True),
        (param("n") == 3.0, True),
        (param("flag") == 1, False),  # true is not 1
        (param("flag") == True, True),  # noqa: E712
        (param("n") > 2, True),
        (param("n") <= 2, False),
        (param("env") < "zzz", True),
        (param("env").is_in(["staging", "prod"]), True),
        (param("env").is_in("production"), True),  # a substring
        (param("env").is_in(["staging"]), False),
        (out("check", "items").contains("b"), True),
        (out("check", "drifted"), True),
        (out("check", "stdout"), True),  # "false" is a non-empty string
        (~out("check", "drifted"), False),
        ((param("env") == "prod") & out("check", "drifted"), True),
        ((param("env") == "dev") | (outcome("Tag") == "v2"), True),
        ((param("env") == "dev") | ~param("flag"), False),
        (param("empty"), False),
        (param("tags") == ["a", "b"], True),
        (out("check", "count") >= param("n"), True),
    ],
)
def test_conditions_evaluate_as_json_values(condition: Any, expected: bool) -> None:
    values = scope(env="prod", n=3, flag=True, empty="", tags=["a", "b"])
    assert evaluate(condition.data, values) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (param("n") < "x", 'cannot compare 3 < "x" (only two numbers or two strings'),
        (param("n").is_in(param("n")), "3 is not a list or a string"),
        (out("broken", "x") == 1, 'out("broken", "x"): step "broken" failed'),
        (out("later") == 1, 'out("later"): step "later" has not run'),
        (out("check", "nope.x"), 'the result of step "check" has no "nope.x" (no "nope" there)'),
        (outcome("Missing"), "no step has published outcome 'Missing'"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_says_why(condition: Any, message: str) -> None:
    from chant.errors import UnresolvedReferenceError

    with pytest.raises(UnresolvedReferenceError) as caught:
        evaluate(condition.data, scope(n=3))
    assert message in caught.value.message


def test_a_false_condition_is_explained_with_the_values_it_saw() -> None:
    condition = (param("env") == "prod") & out("check", "drifted")
    assert text(condition.data) == '(env == "prod") & check.drifted'
    assert text((param("env") == "prod").data) == 'env == "prod"'
    assert why_false(condition.data, scope(env="staging")) == (
        'condition false: (env == "prod") & check.drifted (env is "staging", check.drifted is true)'
    )
    assert text((~((param("a") == 1) | param("b"))).data) == "~((a == 1) | b)"


def test_references_resolve_to_values_and_f_strings_to_text() -> None:
    values = scope(n=3, flag=False, tags=["a", "b"], none=None)
    cmd = shell(
        f"n={param('n')} f={param('flag')} t={param('tags')} z={param('none')} "
        f"o={outcome('Tag')} c={out('check', 'count')} d={out('gone', default='-')}"
    ).args["cmd"]
    assert resolve(cmd, values) == 'n=3 f=false t=["a","b"] z= o=v2 c=3 d=-'
    assert resolve({"whole": out("check", "items").data}, values) == {"whole": ["a", "b"]}


def test_a_secret_in_an_f_string_stays_for_the_worker_to_put_in() -> None:
    from chant.secrets import resolve_secrets

    cmd = shell(f"login {param('user')}:{secret('PW')} now").args["cmd"]
    half = resolve(cmd, scope(user="ann"))
    assert half == {"$format": ["login ann:", Secret("PW"), " now"]}
    assert resolve_secrets(half, {"PW": "hunter2"}) == "login ann:hunter2 now"


# -- in a local run -------------------------------------------------------------------


def run(op: Op, params: dict[str, Any] | None = None, secrets: dict[str, str] | None = None):
    events: list[Event] = []
    registry = default_registry()
    # Build-time checks are left out on purpose (tests/test_data_flow_build.py has them):
    # these Ops hold references the build would refuse, to show what a run does.
    resolved = Plan.of(resolve_op(op, profiles={}, activities=registry.defaults(), problems=[]))
    executor = LocalExecutor(
        registry, sinks=[events.append], params=params or {}, secrets=secrets or {}
    )
    result: RunResult = asyncio.run(executor.run(resolved))
    return result, events


def steps(result: RunResult) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        s.id: (str(s.status), s.reason, s.error["message"] if s.error else None)
        for s in result.steps
    }


def test_a_value_flows_from_a_parameter_and_a_step_to_the_next_steps() -> None:
    op = Op(
        name="flow",
        params={"version": Param(str), "replicas": Param(int, default=2)},
        phases=[
            phase("Build", [shell(f"echo registry/app:{param('version')}", id="build")]),
            phase(
                "Deploy",
                [
                    shell(
                        f"echo deploy $IMAGE x{param('replicas')}",
                        env={"IMAGE": out("build", "stdout")},
                        id="deploy",
                    ),
                ],
            ),
        ],
    )
    result, events = run(op, {"version": "1.5", "replicas": 2})
    assert result.ok
    deploy = result.steps[1]
    assert deploy.result["stdout"] == "deploy registry/app:1.5 x2"  # type: ignore[index]
    # Events and the record show the arguments the step ran with.
    assert deploy.args == {"cmd": "echo deploy $IMAGE x2", "env": {"IMAGE": "registry/app:1.5"}}
    started = [e.data for e in events if e.type == "step_started"]
    assert started[1]["args"] == deploy.args


def test_a_false_condition_skips_the_step_with_its_reason_and_the_phase_goes_on() -> None:
    op = Op(
        name="cond",
        params={"env": Param(str, choices=["staging", "prod"])},
        phases=[
            phase(
                "Deploy",
                [
                    shell("echo deploy", id="deploy"),
                    shell("echo smoke", id="smoke", when=param("env") == "prod"),
                    shell("echo after", id="after"),
                ],
            ),
        ],
    )
    result, events = run(op, {"env": "staging"})
    assert result.ok and result.status == "ok"
    assert steps(result) == {
        "deploy": ("ok", None, None),
        "smoke": ("skipped", 'condition false: env == "prod" (env is "staging")', None),
        "after": ("ok", None, None),
    }
    finished = {e.data["step"]: e.data for e in events if e.type == "step_finished"}
    assert finished["smoke"]["reason"] == 'condition false: env == "prod" (env is "staging")'
    assert finished["deploy"]["reason"] is None
    assert not [e for e in events if e.type == "step_started" and e.data["step"] == "smoke"]
    prod, _ = run(op, {"env": "prod"})
    assert steps(prod)["smoke"] == ("ok", None, None)


def test_a_phase_condition_skips_every_step_of_the_phase() -> None:
    op = Op(
        name="phased",
        params={"force": Param(bool, default=False)},
        phases=[
            phase("Check", [shell("echo yes", id="check", outcome=Outcome("Drift", "stdout"))]),
            phase(
                "Fix",
                [shell("echo fix", id="fix"), shell("echo more", id="more")],
                when=(outcome("Drift") == "no") | param("force"),
                parallel=True,
            ),
            phase("Report", [shell("echo report", id="report")]),
        ],
    )
    result, events = run(op, {"force": False})
    reason = (
        'condition false: (outcome Drift == "no") | force (outcome Drift is "yes", force is false)'
    )
    assert steps(result) == {
        "check": ("ok", None, None),
        "fix": ("skipped", reason, None),
        "more": ("skipped", reason, None),
        "report": ("ok", None, None),
    }
    phases = [(e.data["phase"], e.data.get("skipped")) for e in events if e.type == "phase_started"]
    assert phases == [("Check", False), ("Fix", True), ("Report", False)]
    forced, _ = run(op, {"force": True})
    assert [s.status for s in forced.steps] == ["ok", "ok", "ok", "ok"]


def test_a_reference_without_a_value_fails_its_step_at_once_without_retrying() -> None:
    op = Op(
        name="missing",
        phases=[
            phase("Build", [shell("echo built", id="build")]),
            phase("Deploy", [shell(f"echo {out('build', 'image.tag')}", id="deploy")]),
            phase("Later", [shell("echo later", id="later")]),
        ],
    )
    result, _ = run(op)
    assert (result.ok, result.failed_step) == (False, "deploy")
    deploy = result.steps[1]
    assert (deploy.status, deploy.attempts) == ("failed", 0)
    assert deploy.error == {
        "type": "UnresolvedReferenceError",
        "message": 'out("build", "image.tag"): the result of step "build" has no '
        '"image.tag" (no "image" there)',
    }
    assert result.steps[2].status == "skipped"


def test_a_condition_that_cannot_be_evaluated_fails_the_step() -> None:
    op = Op(
        name="unevaluable",
        phases=[
            phase("Check", [shell("echo 3", id="check")]),
            phase("Go", [shell("echo go", id="go", when=out("check", "count") > 1)]),
        ],
    )
    result, _ = run(op)
    assert steps(result)["go"] == (
        "failed",
        None,
        'out("check", "count"): the result of step "check" has no "count" (no "count" there)',
    )


def test_on_failure_may_read_steps_that_succeeded_and_fails_on_one_that_left_no_result() -> None:
    op = Op(
        name="rollback",
        phases=[
            phase("Capture", [shell("echo v1", id="previous")]),
            phase("Deploy", [shell("echo v2; exit 1", id="deploy")]),
        ],
        on_failure=[
            phase(
                "Roll back",
                [
                    shell(f"echo rolling back to {out('previous', 'stdout')}", id="rollback"),
                    shell(f"echo {out('deploy', 'stdout')}", id="needs-deploy"),
                    shell(f"echo {out('deploy', 'stdout', default='none')}", id="defaulted"),
                ],
            ),
        ],
    )
    result, _ = run(op)
    found = steps(result)
    assert found["rollback"] == ("ok", None, None)
    assert result.steps[2].result["stdout"] == "rolling back to v1"  # type: ignore[index]
    assert found["needs-deploy"] == (
        "failed",
        None,
        'out("deploy", "stdout"): step "deploy" failed, so it has no result (give the '
        "reference a default= to use then)",
    )
    assert found["defaulted"] == ("ok", None, None)
    assert result.steps[4].result["stdout"] == "none"  # type: ignore[index]
    assert result.failed_step == "deploy"  # compensation failing does not change it


def test_a_secret_reaches_its_command_through_an_f_string_and_is_masked_everywhere() -> None:
    op = Op(
        name="secretive",
        params={"user": Param(str)},
        phases=[
            phase("Login", [shell(f"echo login {param('user')}:{secret('PW')}", id="login")]),
            phase("Echo", [shell(f"echo again {out('login', 'stdout')}", id="again")]),
        ],
    )
    result, events = run(op, {"user": "ann"}, {"PW": "hunter2"})
    assert result.ok
    text_ = repr([e.to_dict() for e in events]) + repr(result.to_dict())
    assert "hunter2" not in text_
    assert result.steps[0].result["stdout"] == "login ann:***"  # type: ignore[index]
    # What reaches the next step is the recorded (masked) output: no secret flows on.
    assert result.steps[1].result["stdout"] == "again login ann:***"  # type: ignore[index]


def test_a_condition_may_compare_with_an_f_string_of_references() -> None:
    condition = out("check", "stdout") == f"v{param('major')}.{param('minor')}"
    assert condition.data["right"] == {
        "$format": ["v", {"$param": "major"}, ".", {"$param": "minor"}]
    }
    values = Scope({"major": 1, "minor": 2})
    values.results["check"] = {"stdout": "v1.2"}
    assert evaluate(condition.data, values) is True
    values.params["minor"] = 3
    assert evaluate(condition.data, values) is False
    assert why_false(condition.data, values) == (
        'condition false: check.stdout == "v{major}.{minor}" (check.stdout is "v1.2", '
        "major is 1, minor is 3)"
    )
    listed = param("env").is_in([param("first"), "prod"])
    assert listed.data["right"] == [{"$param": "first"}, "prod"]
    assert evaluate(listed.data, Scope({"env": "qa", "first": "qa"})) is True
