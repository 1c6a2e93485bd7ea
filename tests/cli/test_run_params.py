"""``chant run NAME KEY=VALUE ... [--params-file FILE]``: an Op's parameter values reach
its steps; a value that does not fit stops the run before anything runs (exit 2), with
every problem and the Op's parameters. ``chant list`` shows them; ``chant.run`` and
``chant.testing.run_op`` take them as ``params=``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chant
from chant.params import ParamError
from chant.testing import run_op
from conftest import Chant, MakeProject

OPS = """
from chant import Op, Param, param, phase, shell

deploy = Op(
    name="deploy",
    overview="Ship a version",
    params={
        "version": Param(str, help="image tag"),
        "env": Param(str, default="staging", choices=["staging", "prod"], help="where to"),
        "replicas": Param(int, default=2),
        "canary": Param(bool, default=False),
        "regions": Param(list[str], default=["eu"]),
        "ratio": Param(float, default=0.5),
    },
    phases=[
        phase("Go", [
            shell(
                f"echo version={param('version')} env=$ENV replicas={param('replicas')} "
                f"canary={param('canary')} regions={param('regions')} ratio={param('ratio')}",
                env={"ENV": param("env")},
            ),
            shell("touch ran.marker"),
        ]),
    ],
)

hello = Op(name="hello", phases=[phase("Greet", [shell("touch hello.marker")])])
"""
KNOWN = "version, env, replicas, canary, regions, ratio"
TAKES = (
    '  hint: op "deploy" takes (as KEY=VALUE after its name, or in --params-file FILE):\n'
    "    version (str, required)     image tag\n"
    "    env=staging (staging|prod)  where to\n"
    "    replicas=2 (int)\n"
    "    canary=false (bool)\n"
    "    regions=eu (list)\n"
    "    ratio=0.5 (float)\n"
)


@pytest.fixture
def root(make_project: MakeProject) -> Path:
    return make_project({"ops/deploy.op.py": OPS})


def _echoed(out: str) -> str:
    """The first step's stdout in a ``--json`` result."""
    doc = json.loads(out)
    assert doc["ok"], doc
    stdout: str = doc["steps"][0]["result"]["stdout"]
    return stdout


# -- values reach the steps -------------------------------------------------------------


def test_values_reach_the_step_in_args_env_and_f_strings(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc(
        "run", "deploy", "--local", "--json", "version=1.5", "env=prod", "replicas=3",
        "canary=yes", "regions=eu,us", "ratio=2", cwd=root,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    # The list is written as JSON into the command, the shell takes the quotes away.
    assert (
        _echoed(ran.out) == "version=1.5 env=prod replicas=3 canary=true regions=[eu,us] ratio=2.0"
    )
    assert (root / "ran.marker").exists()


def test_defaults_fill_in_what_is_not_given(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc("run", "deploy", "--local", "--json", "version=v2", cwd=root)
    assert ran.code == 0, ran.err
    assert _echoed(ran.out) == (
        "version=v2 env=staging replicas=2 canary=false regions=[eu] ratio=0.5"
    )


@pytest.mark.parametrize(
    ("given", "echoed"),
    [
        (["canary=TRUE", "replicas=-1"], "canary=true replicas=-1"),
        (["canary=off", "replicas=+40"], "canary=false replicas=40"),
        (["canary=1", "regions="], "canary=true regions=[]"),
        (["canary=No", 'regions=["a,b","c"]'], "canary=false regions=[a,b,c]"),
    ],
)
def test_bool_int_and_list_text_variants(
    given: list[str], echoed: str, root: Path, chant_proc: Chant
) -> None:
    ran = chant_proc("run", "deploy", "--local", "--json", "version=x", *given, cwd=root)
    assert ran.code == 0, ran.err
    for part in echoed.split():
        assert f" {part} " in f" {_echoed(ran.out).strip()} "


def test_values_may_come_before_between_and_after_options(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc(
        "run", "deploy", "env=prod", "--local", "version=9", "--json", "replicas=4", cwd=root
    )
    assert ran.code == 0, ran.err
    assert _echoed(ran.out).startswith("version=9 env=prod replicas=4 ")


def test_a_params_file_gives_values_the_command_line_overrides(
    root: Path, chant_proc: Chant
) -> None:
    (root / "ci").mkdir()
    (root / "ci" / "p.json").write_text(
        json.dumps({"version": "3.1", "env": "prod", "replicas": 5, "ratio": 1, "canary": True})
    )
    ran = chant_proc(
        "run", "deploy", "--local", "--json", "--params-file", "ci/p.json", "replicas=6", cwd=root
    )
    assert ran.code == 0, ran.err
    assert _echoed(ran.out) == (
        "version=3.1 env=prod replicas=6 canary=true regions=[eu] ratio=1.0"
    )


# -- values that do not fit: exit 2, nothing ran ----------------------------------------


@pytest.mark.parametrize(
    ("given", "problems"),
    [
        ([], ['missing required parameter "version"']),
        (["version=1", "env=qa"], ['env=qa: "qa" is not one of "staging", "prod"']),
        (["version=1", "env=Prod"], ['env=Prod: "Prod" is not one of "staging", "prod"']),
        (["version=1", "replicas=two"], ["replicas=two: must be an integer"]),
        (["version=1", "replicas=1.0"], ["replicas=1.0: must be an integer"]),
        (["version=1", "ratio=half"], ["ratio=half: must be a number"]),
        (
            ["version=1", "canary=maybe"],
            ["canary=maybe: must be true or false (or yes/no, on/off, 1/0)"],
        ),
        (
            ["version=1", "regions=[eu"],
            [
                "regions=[eu: must be a JSON array of strings (column 2: Expecting value) or "
                "comma-separated text"
            ],
        ),
        (["version=1", "regions=[1]"], ["regions=[1]: must be a JSON array of strings, got [1]"]),
        (["version=1", "evn=prod"], ['evn=prod: unknown parameter; did you mean "env"?']),
        (
            ["version=1", "colour=red"],
            ["colour=red: unknown parameter; known: " + KNOWN],
        ),
        (["version=1", "prod"], ["prod: not KEY=VALUE; did you mean env=prod?"]),
        (
            ["version"],
            [
                "version: not KEY=VALUE; a parameter is given as NAME=VALUE, e.g. version=version",
                'missing required parameter "version"',
            ],
        ),
        (
            ["version=1", "2x=3"],
            [
                '2x=3: "2x" before = is not a parameter name (letters, digits and _, not '
                "starting with a digit)"
            ],
        ),
        (
            ["version=1", "version=2"],
            ["version=2: version is given twice on the command line (also version=1)"],
        ),
        (
            ["env=qa", "replicas=x", "evn=1"],
            [
                'env=qa: "qa" is not one of "staging", "prod"',
                "replicas=x: must be an integer",
                'evn=1: unknown parameter; did you mean "env"?',
                'missing required parameter "version"',
            ],
        ),
    ],
    ids=[
        "missing", "not-a-choice", "choice-case", "int-word", "int-float", "float-word",
        "bool-word", "list-bad-json", "list-of-ints", "unknown-close", "unknown-far",
        "no-equals-choice", "no-equals", "bad-name", "twice", "several",
    ],
)  # fmt: skip
def test_values_that_do_not_fit_stop_the_run_with_every_problem(
    given: list[str], problems: list[str], root: Path, chant_proc: Chant
) -> None:
    ran = chant_proc("run", "deploy", *given, cwd=root)  # no --local: no mode notice either
    if len(problems) == 1:
        head = f'chant: error: op "deploy": {problems[0]}\n'
    else:
        head = f'chant: error: op "deploy": {len(problems)} problems with its parameters:\n'
        head += "".join(f"  {p}\n" for p in problems)
    assert (ran.code, ran.out, ran.err) == (2, "", head + TAKES)
    assert not (root / "ran.marker").exists()


def test_a_value_for_an_op_without_parameters_is_refused(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc("run", "hello", "--local", "name=x", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        'chant: error: op "hello": name=x: unknown parameter\n'
        '  hint: op "hello" takes no parameters\n'
    )
    assert not (root / "hello.marker").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "params file p.json: cannot be read (No such file or directory)"),
        ("", "params file p.json:1:1: not JSON: Expecting value"),
        (
            '{\n  "version": "1",\n  "env": prod\n}',
            "params file p.json:3:10: not JSON: Expecting value",
        ),
        (
            '["version=1"]',
            'params file p.json: must hold a JSON object of parameter values (e.g. {"version": '
            '"1.5"}), not an array',
        ),
        ('{"version": "1", "version": "2"}', 'params file p.json: "version" is given twice'),
        (b"\xff\xfe", "params file p.json: cannot be read (not UTF-8)"),
    ],
    ids=["missing", "empty", "bad-json", "array", "twice", "not-utf8"],
)
def test_a_params_file_that_cannot_be_used_stops_the_run(
    content: str | bytes | None, problem: str, root: Path, chant_proc: Chant
) -> None:
    if isinstance(content, bytes):
        (root / "p.json").write_bytes(content)
    elif content is not None:
        (root / "p.json").write_text(content)
    ran = chant_proc("run", "deploy", "--local", "--params-file", "p.json", "version=1", cwd=root)
    assert (ran.code, ran.out, ran.err) == (2, "", f'chant: error: op "deploy": {problem}\n{TAKES}')
    assert not (root / "ran.marker").exists()


def test_values_in_a_params_file_are_typed_strictly(root: Path, chant_proc: Chant) -> None:
    (root / "p.json").write_text(
        json.dumps(
            {
                "version": 1.5,
                "replicas": "3",
                "canary": "true",
                "regions": "eu",
                "ratio": "1",
                "x": 1,
            }
        )
    )
    ran = chant_proc("run", "deploy", "--local", "--params-file", "p.json", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        'chant: error: op "deploy": 6 problems with its parameters:\n'
        '  "version" in p.json: must be a string, got 1.5\n'
        '  "replicas" in p.json: must be an integer, got "3"\n'
        '  "canary" in p.json: must be true or false, got "true"\n'
        '  "regions" in p.json: must be a list of strings, got "eu"\n'
        '  "ratio" in p.json: must be a number, got "1"\n'
        '  "x" in p.json: unknown parameter; known: version, env, replicas, canary, regions, '
        "ratio\n" + TAKES
    )
    assert not (root / "ran.marker").exists()


# -- where the check comes among the others ---------------------------------------------


def test_an_unknown_op_is_reported_before_its_values(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc("run", "deplyo", "--local", "colour=red", cwd=root)
    assert ran.code == 2
    assert ran.err.startswith('chant: error: no Op named "deplyo"; available: deploy, hello')


def test_values_are_checked_before_connecting_to_temporal(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    # Nothing listens at port 1: reaching for Temporal would be exit 3, not 2.
    toml = '[temporal.profiles.dev]\naddress = "127.0.0.1:1"\nauto_start = false\n'
    root = make_project({"chant.toml": toml, "ops/deploy.op.py": OPS})
    ran = chant_proc("run", "deploy", "env=qa", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        'chant: error: op "deploy": 2 problems with its parameters:\n'
        '  env=qa: "qa" is not one of "staging", "prod"\n'
        '  missing required parameter "version"\n' + TAKES
    )


def test_values_are_checked_before_gates_and_secrets(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    gated = (
        "from chant import Op, Param, gate, phase, secret, shell\n"
        'op = Op(name="gated", params={"n": Param(int)}, phases=[\n'
        '    phase("A", [shell("true", env={"T": secret("UNSET_TOKEN_XYZ")})]),\n'
        '    phase("B", [gate("ok")]),\n'
        "])\n"
    )
    root = make_project({"ops/gated.op.py": gated})
    ran = chant_proc("run", "gated", "--local", "n=x", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        'chant: error: op "gated": n=x: must be an integer\n'
        '  hint: op "gated" takes (as KEY=VALUE after its name, or in --params-file FILE):\n'
        "    n (int, required)\n"
    )


# -- chant list --------------------------------------------------------------------------


def test_list_shows_each_parameter_under_its_op(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc("list", cwd=root)
    assert (ran.code, ran.err) == (0, "")
    assert ran.out == (
        "NAME    PHASES  STEPS  OVERVIEW\n"
        "deploy       1      2  Ship a version\n"
        "  version (str, required)     image tag\n"
        "  env=staging (staging|prod)  where to\n"
        "  replicas=2 (int)\n"
        "  canary=false (bool)\n"
        "  regions=eu (list)\n"
        "  ratio=0.5 (float)\n"
        "hello        1      1  \n"
    )


def test_list_json_has_the_parameters_of_an_op_that_has_some(root: Path, chant_proc: Chant) -> None:
    ran = chant_proc("list", "--json", cwd=root)
    assert ran.code == 0
    deploy, hello = json.loads(ran.out)
    assert "params" not in hello
    assert deploy["params"] == [
        {
            "name": "version",
            "type": "str",
            "required": True,
            "default": None,
            "choices": None,
            "help": "image tag",
        },
        {
            "name": "env",
            "type": "str",
            "required": False,
            "default": "staging",
            "choices": ["staging", "prod"],
            "help": "where to",
        },
        *(
            {"name": n, "type": t, "required": False, "default": d, "choices": None, "help": ""}
            for n, t, d in [
                ("replicas", "int", 2),
                ("canary", "bool", False),
                ("regions", "list", ["eu"]),
                ("ratio", "float", 0.5),
            ]
        ),
    ]


def test_list_shows_user_help_escaped(make_project: MakeProject, chant: Chant) -> None:
    op = (
        "from chant import Op, Param, phase, shell\n"
        'op = Op(name="x", params={"p": Param(str, default="a", help="\\x07ding")},\n'
        '        phases=[phase("A", [shell("true")])])\n'
    )
    ran = chant("list", cwd=make_project({"ops/x.op.py": op}))
    assert ran.code == 0
    assert ran.out.splitlines()[2] == "  p=a (str)  \\x07ding"


# -- Python: chant.run and chant.testing.run_op -----------------------------------------


def test_chant_run_takes_typed_params(root: Path) -> None:
    result = chant.run(
        "deploy",
        project=root,
        mode="local",
        params={"version": "7", "canary": True, "regions": ("us",), "ratio": 3},
    )
    assert result.ok
    assert result.steps[0].result["stdout"] == (  # type: ignore[index]
        "version=7 env=staging replicas=2 canary=true regions=[us] ratio=3.0"
    )


@pytest.mark.parametrize(
    ("params", "problems"),
    [
        ({}, ('missing required parameter "version"',)),
        ({"version": 1}, ('params["version"]: must be a string, got 1',)),
        (
            {"version": "1", "replicas": "3", "canary": "yes"},
            (
                'params["replicas"]: must be an integer, got "3"',
                'params["canary"]: must be true or false, got "yes"',
            ),
        ),
        (
            {"version": "1", "env": "qa", "evn": "prod"},
            (
                'params["env"]: "qa" is not one of "staging", "prod"',
                'params["evn"]: unknown parameter; did you mean "env"?',
            ),
        ),
        (
            {"version": "1", "regions": "eu"},
            ('params["regions"]: must be a list of strings, got "eu"',),
        ),
    ],
    ids=["missing", "int-for-str", "str-for-int-and-bool", "choice-and-unknown", "str-for-list"],
)  # fmt: skip
def test_chant_run_refuses_typed_params_that_do_not_fit(
    params: dict[str, object], problems: tuple[str, ...], root: Path
) -> None:
    with pytest.raises(ParamError) as caught:
        chant.run("deploy", project=root, mode="local", params=params)  # type: ignore[arg-type]
    assert caught.value.problems == problems
    assert caught.value.exit_code == 2
    assert not (root / "ran.marker").exists()


def test_chant_run_takes_command_line_texts_and_a_file_too(root: Path) -> None:
    (root / "p.json").write_text('{"version": "f", "replicas": 9}')
    result = chant.run(
        "deploy",
        project=root,
        mode="local",
        params_file=root / "p.json",
        param_args=["env=prod", "replicas=8"],
        params={"version": "py"},
    )
    assert (
        result.steps[0]
        .result["stdout"]
        .startswith(  # type: ignore[index]
            "version=py env=prod replicas=8 "
        )
    )


def test_run_op_takes_params_the_same_way(root: Path) -> None:
    run = run_op("deploy", project=root, params={"version": "2", "env": "prod"})
    assert run.ok
    assert run.calls_to("go.1")[0].args["env"] == {"ENV": "prod"}
    assert run.calls_to("go.1")[0].args["cmd"] == (
        'echo version=2 env=$ENV replicas=2 canary=false regions=["eu"] ratio=0.5'
    )
    with pytest.raises(ParamError) as caught:
        run_op("deploy", project=root, params={"replicas": 3})
    assert caught.value.problems == ('missing required parameter "version"',)
