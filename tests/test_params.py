"""chant.params: parameter values from the command line, a params file and Python,
checked against an Op's declaration and completed with its defaults."""

from __future__ import annotations

import pytest

from chant import Op, Param, phase, shell
from chant.errors import ExitCode, UsageError
from chant.ir import JSON
from chant.params import (
    ParamError,
    as_text,
    check,
    describe,
    from_text,
    parse_file,
    problems,
    values_for,
)

DEPLOY = Op(
    name="deploy",
    params={
        "version": Param(str, help="image tag"),
        "env": Param(str, default="staging", choices=["staging", "prod"], help="where to"),
        "replicas": Param(int, default=2),
        "ratio": Param(float, default=1),
        "dry": Param(bool, default=False),
        "tags": Param(list[str], default=[]),
    },
    phases=[phase("Go", [shell("true")])],
)
BARE = Op(name="bare", phases=[phase("Go", [shell("true")])])
TAKES = (
    'op "deploy" takes (as KEY=VALUE after its name, or in --params-file FILE):\n'
    "    version (str, required)     image tag\n"
    "    env=staging (staging|prod)  where to\n"
    "    replicas=2 (int)\n"
    "    ratio=1.0 (float)\n"
    "    dry=false (bool)\n"
    "    tags=[] (list)"
)


def _problems(op: Op = DEPLOY, args: tuple[str, ...] = (), **kwargs: object) -> list[str]:
    with pytest.raises(ParamError) as caught:
        values_for(op, args, **kwargs)  # type: ignore[arg-type]
    return list(caught.value.problems)


def test_values_are_complete_in_declared_order_with_defaults() -> None:
    assert list(values_for(DEPLOY, ["tags=a", "version=1.5"]).items()) == [
        ("version", "1.5"),
        ("env", "staging"),
        ("replicas", 2),
        ("ratio", 1.0),
        ("dry", False),
        ("tags", ["a"]),
    ]


def test_an_op_without_parameters_gets_none() -> None:
    assert values_for(BARE) == {}
    assert check(BARE, {}) == {}


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (str, "", ""),
        (str, "a=b c", "a=b c"),
        (int, "3", 3),
        (int, "-12", -12),
        (int, "+7", 7),
        (int, "007", 7),
        (float, "1.5", 1.5),
        (float, "2", 2.0),
        (float, "-.5", -0.5),
        (float, "1e3", 1000.0),
        (bool, "true", True),
        (bool, "YES", True),
        (bool, "On", True),
        (bool, "1", True),
        (bool, "False", False),
        (bool, "no", False),
        (bool, "OFF", False),
        (bool, "0", False),
        (list[str], "a,b", ["a", "b"]),
        (list[str], "a,,b,", ["a", "", "b", ""]),
        (list[str], "", []),
        (list[str], "one", ["one"]),
        (list[str], '["a,b", "c"]', ["a,b", "c"]),
        (list[str], "[]", []),
    ],
)
def test_command_line_text_becomes_a_value_of_the_parameter_type(
    kind: object, text: str, value: JSON
) -> None:
    got, why = from_text(Param(kind), text)
    assert (got, why) == (value, None)
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("kind", "text", "why"),
    [
        (int, "1.5", "must be an integer"),
        (int, "two", "must be an integer"),
        (int, "1_000", "must be an integer"),
        (int, " 3", "must be an integer"),
        (int, "", "must be an integer"),
        (float, "abc", "must be a number"),
        (float, "nan", "must be a number"),
        (float, "inf", "must be a number"),
        (float, "1e999", "must be a number"),
        (bool, "maybe", "must be true or false (or yes/no, on/off, 1/0)"),
        (bool, "", "must be true or false (or yes/no, on/off, 1/0)"),
        (bool, "2", "must be true or false (or yes/no, on/off, 1/0)"),
        (
            list[str],
            "[a",
            "must be a JSON array of strings (column 2: Expecting value) or comma-separated text",
        ),
        (list[str], "[1, 2]", "must be a JSON array of strings, got [1, 2]"),
        (list[str], '["a", null]', 'must be a JSON array of strings, got ["a", null]'),
    ],
)
def test_command_line_text_that_is_not_of_the_type_says_what_it_must_be(
    kind: object, text: str, why: str
) -> None:
    assert from_text(Param(kind), text) == (None, why)


def test_every_problem_of_the_command_line_is_named_at_once() -> None:
    found = _problems(
        args=(
            "env=qa",
            "evn=prod",
            "replicas=two",
            "dry=maybe",
            "ratio=fast",
            "tags=[1]",
            "prod",
            "1x=2",
            "=3",
            "x y=1",
            "",
        )
    )
    assert found == [
        'env=qa: "qa" is not one of "staging", "prod"',
        'evn=prod: unknown parameter; did you mean "env"?',
        "replicas=two: must be an integer",
        "dry=maybe: must be true or false (or yes/no, on/off, 1/0)",
        "ratio=fast: must be a number",
        "tags=[1]: must be a JSON array of strings, got [1]",
        "prod: not KEY=VALUE; did you mean env=prod?",
        '1x=2: "1x" before = is not a parameter name (letters, digits and _, not starting '
        "with a digit)",
        "=3: nothing before = is not a parameter name (letters, digits and _, not starting "
        "with a digit)",
        '"x y=1": "x y" before = is not a parameter name (letters, digits and _, not '
        "starting with a digit)",
        '"": not KEY=VALUE; a parameter is given as NAME=VALUE, e.g. version=VALUE',
        'missing required parameter "version"',
    ]


def test_the_error_names_the_op_lists_the_problems_and_hints_its_parameters() -> None:
    with pytest.raises(ParamError) as caught:
        values_for(DEPLOY, ["replicas=0.5", "env=dev"])
    error = caught.value
    assert isinstance(error, UsageError) and error.exit_code == ExitCode.INVALID
    assert str(error) == (
        'op "deploy": 3 problems with its parameters:\n'
        "  replicas=0.5: must be an integer\n"
        '  env=dev: "dev" is not one of "staging", "prod"\n'
        '  missing required parameter "version"\n'
        f"  hint: {TAKES}"
    )


def test_one_problem_is_said_on_the_first_line() -> None:
    with pytest.raises(ParamError) as caught:
        values_for(DEPLOY, [])
    assert (
        str(caught.value) == f'op "deploy": missing required parameter "version"\n  hint: {TAKES}'
    )


def test_an_op_without_parameters_says_so_for_any_value() -> None:
    with pytest.raises(ParamError) as caught:
        values_for(BARE, ["version=1"])
    assert str(caught.value) == (
        'op "bare": version=1: unknown parameter\n  hint: op "bare" takes no parameters'
    )


def test_unknown_names_get_the_close_ones_or_the_list() -> None:
    assert _problems(args=("version=1", "Version=2", "zzz=3")) == [
        'Version=2: unknown parameter; did you mean "version"?',
        "zzz=3: unknown parameter; known: version, env, replicas, ratio, dry, tags",
    ]


def test_a_name_given_twice_on_the_command_line_is_refused() -> None:
    assert _problems(args=("version=1", "env=prod", "version=2", "version=3")) == [
        "version=2: version is given twice on the command line (also version=1)",
        "version=3: version is given twice on the command line (also version=1)",
    ]


def test_a_given_value_that_does_not_fit_is_not_also_missing() -> None:
    assert _problems(typed={"version": 1}) == ['params["version"]: must be a string, got 1']


def test_list_choices_check_every_item() -> None:
    op = Op(
        name="pick",
        params={"regions": Param(list[str], default=["eu"], choices=["eu", "us"])},
        phases=[phase("Go", [shell("true")])],
    )
    assert values_for(op, ["regions=us,eu"]) == {"regions": ["us", "eu"]}
    assert _problems(op, ("regions=eu,asia",)) == [
        'regions=eu,asia: "asia" is not one of "eu", "us"'
    ]


def test_int_and_bool_choices_compare_by_type() -> None:
    op = Op(
        name="sizes",
        params={"size": Param(int, default=1, choices=[1, 2, 4]), "on": Param(bool, default=True)},
        phases=[phase("Go", [shell("true")])],
    )
    assert values_for(op, ["size=4", "on=0"]) == {"size": 4, "on": False}
    assert _problems(op, ("size=3",)) == ["size=3: 3 is not one of 1, 2, 4"]
    assert _problems(op, typed={"size": True}) == ['params["size"]: must be an integer, got true']


def test_file_values_are_typed_strictly_and_the_command_line_overrides_them() -> None:
    file = {"version": "2.0", "replicas": 5, "ratio": 3, "tags": ["x"], "dry": True}
    values = values_for(DEPLOY, ["replicas=7"], file=file, file_name="p.json")
    assert values == {
        "version": "2.0",
        "env": "staging",
        "replicas": 7,
        "ratio": 3.0,
        "dry": True,
        "tags": ["x"],
    }
    assert _problems(
        file={"version": 1, "evn": "prod", "replicas": "5", "ratio": "1.5", "dry": "true"},
        file_name="ci/p.json",
    ) == [
        '"version" in ci/p.json: must be a string, got 1',
        '"evn" in ci/p.json: unknown parameter; did you mean "env"?',
        '"replicas" in ci/p.json: must be an integer, got "5"',
        '"ratio" in ci/p.json: must be a number, got "1.5"',
        '"dry" in ci/p.json: must be true or false, got "true"',
    ]


def test_a_file_value_the_command_line_overrides_is_not_checked() -> None:
    values = values_for(DEPLOY, ["replicas=1"], file={"replicas": "x", "version": "v"})
    assert values["replicas"] == 1


def test_typed_values_override_the_command_line_and_the_file() -> None:
    values = values_for(
        DEPLOY, ["version=cli", "env=prod"], file={"version": "file"}, typed={"version": "py"}
    )
    assert (values["version"], values["env"]) == ("py", "prod")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "params file p.json:1:1: not JSON: Expecting value"),
        ('{"version": "1",\n "env": }', "params file p.json:2:9: not JSON: Expecting value"),
        (
            "[1]",
            "params file p.json: must hold a JSON object of parameter values (e.g. "
            '{"version": "1.5"}), not an array',
        ),
        (
            '"x"',
            "params file p.json: must hold a JSON object of parameter values (e.g. "
            '{"version": "1.5"}), not a string',
        ),
        (
            "null",
            "params file p.json: must hold a JSON object of parameter values (e.g. "
            '{"version": "1.5"}), not null',
        ),
        ('{"version": "1", "version": "2"}', 'params file p.json: "version" is given twice'),
    ],
)
def test_a_params_file_that_is_not_a_json_object_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ParamError) as caught:
        parse_file(DEPLOY, text, "p.json")
    assert caught.value.problems == (problem,)
    assert str(caught.value) == f'op "deploy": {problem}\n  hint: {TAKES}'


def test_a_params_file_object_is_its_values() -> None:
    assert parse_file(DEPLOY, '{"version": "1", "tags": []}', "p.json") == {
        "version": "1",
        "tags": [],
    }


def test_check_completes_typed_values_and_names_them_by_label() -> None:
    assert check(DEPLOY, {"version": "1", "tags": ("a",), "ratio": 2}) == {
        "version": "1",
        "env": "staging",
        "replicas": 2,
        "ratio": 2.0,
        "dry": False,
        "tags": ["a"],
    }
    assert problems(DEPLOY, {"version": "1"}) == []
    assert problems(DEPLOY, {"env": "qa", "x": 1}, label="input.params") == [
        'input.params["env"]: "qa" is not one of "staging", "prod"',
        'input.params["x"]: unknown parameter; known: version, env, replicas, ratio, dry, tags',
        'missing required parameter "version"',
    ]


def test_check_refuses_what_is_not_a_mapping() -> None:
    with pytest.raises(ParamError) as caught:
        check(DEPLOY, ["version"])  # type: ignore[arg-type]
    assert caught.value.problems == (
        'params must be a mapping of parameter names to values, got ["version"]',
    )


def test_describe_aligns_each_parameter_and_its_help() -> None:
    assert describe(DEPLOY) == [
        "version (str, required)     image tag",
        "env=staging (staging|prod)  where to",
        "replicas=2 (int)",
        "ratio=1.0 (float)",
        "dry=false (bool)",
        "tags=[] (list)",
    ]
    assert describe(BARE) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("staging", "staging"),
        ("", '""'),
        ("a b", '"a b"'),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.5, "1.5"),
        (["a", "b"], "a,b"),
        ([], "[]"),
        (["a,b"], '["a,b"]'),
        (["[x"], '["[x"]'),
        ([""], '[""]'),
    ],
)
def test_a_value_is_shown_as_it_would_be_typed(value: JSON, text: str) -> None:
    assert as_text(value) == text
    if isinstance(value, list):  # and typed so, it gives the same value back
        assert from_text(Param(list[str]), text) == (value, None)
