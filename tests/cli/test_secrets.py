"""A secret's value never appears in any output, record or built IR."""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chant.events import Masker, NotJSONError, to_json
from conftest import Ran

VALUE = "pa55-w0rd-xyz"

OPS = """
from chant import Op, Outcome, phase, secret, shell

leaky = Op(
    name="leaky",
    phases=[
        phase("Use", [
            shell('echo "token=$TOKEN"; echo "$TOKEN" >&2', env={"TOKEN": secret("API_TOKEN")},
                  outcome=Outcome("Seen", "stdout")),
            shell('echo "$TOKEN-suffix" >&2; exit 9', env={"TOKEN": secret("API_TOKEN")},
                  profile="policy_check"),
        ]),
    ],
)
"""


def test_a_secret_never_appears_in_stdout_stderr_json_or_the_built_ir(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/leaky.op.py": OPS})
    env = {"API_TOKEN": VALUE}
    human = chant_proc("run", "leaky", "--local", cwd=root, env=env)
    as_json = chant_proc("run", "leaky", "--local", "--json", cwd=root, env=env)
    events = chant_proc("run", "leaky", "--local", "--progress-json", cwd=root, env=env)
    built = chant_proc("build", cwd=root, env=env)
    assert [human.code, as_json.code, events.code, built.code] == [1, 1, 1, 0]
    ir_text = (root / "dist" / "ops" / "leaky.op.json").read_text()
    for text in (human.out, human.err, as_json.out, as_json.err, events.out, events.err, ir_text):
        assert VALUE not in text
    # The masked value is still visibly there, and the IR keeps only the reference.
    assert "token=***" in human.out and "***-suffix" in human.out
    doc = json.loads(as_json.out)
    assert doc["steps"][0]["outcome"] == {"name": "Seen", "value": "token=***"}
    assert doc["steps"][1]["error"]["message"] == "command exited with 9: ***-suffix"
    assert json.loads(ir_text)["phases"][0]["steps"][0]["args"]["env"] == {
        "TOKEN": {"$secret": "API_TOKEN"}
    }


def test_a_missing_secret_stops_the_run_before_anything_runs(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project({"ops/leaky.op.py": OPS})
    ran = chant("run", "leaky", "--local", cwd=root)
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err == (
        'chant: error: op "leaky" needs secret(s) not set (or empty) in the environment: '
        "API_TOKEN\n"
        "  hint: export API_TOKEN=… before running (the value is masked as *** in all output)\n"
    )


# -- the masking rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Zq9-value\n", "Zq9-value\r\n", "  Zq9-value  ", "\tZq9-value\n\n", " Zq9-value"],
)
def test_a_value_is_masked_as_given_and_without_surrounding_whitespace(value: str) -> None:
    mask = Masker([value])
    assert mask.text(f"a{value}b") == "a***b"
    # Output reaches chant line by line: the newline is gone, the value must still go.
    assert mask.text("token=Zq9-value;") == "token=***;"


def test_each_line_of_a_multi_line_secret_is_masked_but_not_a_line_under_3_characters() -> None:
    mask = Masker(["-----BEGIN KEY-----\r\n  MIIEvQIBADAN  \n}\nab\nxyz\n-----END KEY-----\n"])
    assert mask.text("MIIEvQIBADAN") == "***"
    assert mask.text("x -----BEGIN KEY----- y -----END KEY----- z") == "x *** y *** z"
    assert mask.text("xyz") == "***"
    assert mask.text("{ab}") == "{ab}"


def test_a_whole_stripped_value_is_masked_at_any_length() -> None:
    assert Masker(["k\n"]).text("ok") == "o***"


def test_a_blank_value_masks_nothing() -> None:
    mask = Masker([" ", "\n", "\t \n", ""])
    assert not mask
    assert mask.text("a b\tc") == "a b\tc"
    assert mask.longest == 0


def test_overlapping_secrets_leave_no_part_of_either() -> None:
    mask = Masker(["ABCD", "CDEF"])
    assert mask.text("xxABCDEFyy ABCD CDEF") == "xx***yy *** ***"


def test_longest_is_the_longest_masked_text() -> None:
    assert Masker(["ab", "  longer-one\n", "x\ny"]).longest == len("  longer-one\n")


def test_keys_are_masked_and_two_keys_masked_alike_are_both_kept() -> None:
    mask = Masker(["TOPSECRET"])
    assert mask({"TOPSECRET": 1, "***": 2, "k": {"TOPSECRET-2": ["TOPSECRET"]}}) == {
        "***": 1,
        "***'": 2,
        "k": {"***-2": ["***"]},
    }


def test_values_that_are_not_json_are_masked_after_conversion() -> None:
    class Mine:
        def __str__(self) -> str:
            return "Mine(TOPSECRET)"

    mask = Masker(["TOPSECRET"])
    assert mask(
        {
            "bytes": b"TOPSECRET",
            "set": {"TOPSECRET"},
            "frozen": frozenset({"x-TOPSECRET"}),
            "tuple": ("TOPSECRET", 2),
            "path": Path("/a/TOPSECRET"),
            "object": Mine(),
        }
    ) == {
        "bytes": "***",
        "set": ["***"],
        "frozen": ["x-***"],
        "tuple": ["***", 2],
        "path": "/a/***",
        "object": "Mine(***)",
    }


def test_to_json_converts_bytes_sets_tuples_paths_and_plain_keys() -> None:
    assert to_json(
        {
            "b": b"caf\xc3\xa9 \xff",
            "s": {3, 1, 2},
            "f": frozenset({"b", "a"}),
            "t": (1, (2, 3)),
            "p": Path("/srv/x"),
            2: "int key",
            None: "none key",
            True: "bool key",
            b"k": "bytes key",
        }
    ) == {
        "b": "café \ufffd",
        "s": [1, 2, 3],
        "f": ["a", "b"],
        "t": [1, [2, 3]],
        "p": "/srv/x",
        "2": "int key",
        "null": "none key",
        "true": "bool key",
        "k": "bytes key",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, datetime.date(2020, 1, 2)]}, "['a'][1] is a date, which is not JSON"),
        ({("a", 1): 1}, "the value is a dict with a key of type tuple, which is not JSON"),
        (object(), "the value is a object, which is not JSON"),
        ({"n": decimal.Decimal("1.5")}, "['n'] is a Decimal, which is not JSON"),
    ],
)
def test_to_json_refuses_what_json_cannot_hold_and_says_where(value: object, message: str) -> None:
    with pytest.raises(NotJSONError) as caught:
        to_json(value)
    assert str(caught.value) == message


def test_to_json_refuses_a_container_that_holds_itself() -> None:
    loop: list[object] = []
    loop.append({"again": loop})
    with pytest.raises(NotJSONError) as caught:
        to_json(loop)
    assert str(caught.value) == "[0]['again'] is a list that contains itself"


# -- a run, end to end --------------------------------------------------------------------

NON_JSON = """
import datetime
from pathlib import Path
from chant import Op, activity, phase, secret, shell


@activity
def odd(token: str) -> object:
    return {"when": {token.strip(): datetime.datetime(2020, 1, 2)}}


@activity
def converted(token: str) -> object:
    return {"raw": token.encode(), "where": Path("/srv") / token.strip(), "ids": {3, 1}}


odd_op = Op(name="odd", phases=[phase("Go", [activity("odd", token=secret("TOKEN"))])])
fine = Op(name="fine", phases=[phase("Go", [activity("converted", token=secret("TOKEN"))])])
"""


def test_a_result_that_is_not_json_fails_the_step_at_once_naming_type_path_and_step(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/odd.op.py": NON_JSON})
    ran = chant_proc("run", "odd", "--local", "--json", cwd=root, env={"TOKEN": "Kq7Zsecret\n"})
    assert ran.code == 1, ran.err
    step = json.loads(ran.out)["steps"][0]
    # Not retried, although the default profile allows 3 attempts: it cannot change.
    assert step["attempts"] == 1
    assert step["error"] == {
        "type": "ResultNotJSONError",
        "message": 'step go.1: activity "odd" returned a result that is not JSON: its '
        "result['when']['***'] is a datetime, which is not JSON; return str, int, float, "
        "bool, None, lists and dicts with str keys (bytes, sets, tuples and paths are "
        "converted)",
    }
    assert "Kq7Z" not in ran.out + ran.err


def test_bytes_paths_and_sets_in_a_result_become_json_and_are_masked(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/odd.op.py": NON_JSON})
    ran = chant_proc("run", "fine", "--local", "--json", cwd=root, env={"TOKEN": "Kq7Zsecret\n"})
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["steps"][0]["result"] == {
        "raw": "***",
        "where": "/srv/***",
        "ids": [1, 3],
    }


SHAPES = """
from chant import Op, phase, secret, shell

shapes = Op(
    name="shapes",
    phases=[phase("Print", [
        shell('printf "%s" "$T"; echo; echo "inline: $T"; printf "%s" "$T" | tr "\\\\n" " "; echo',
              env={"T": secret("TOKEN")}, outcome="Out"),
        shell('printf "%s" "$T" >&2; exit 4', env={"T": secret("TOKEN")}, profile="policy_check"),
    ])],
    on_failure=[phase("Undo", [shell('echo "undeclared: $TOKEN"')])],
)
"""


@pytest.mark.parametrize(
    "value",
    [
        "Wv8Kx-tail-newline\n",
        "Wv8Kx-crlf\r\n",
        "   Wv8Kx-spaces   ",
        "\tWv8Kx-tab\t\n",
        "Wv8Kx-line-one\nWv8Kx-line-two\nWv8Kx-line-three\n",
        "Wv8Kx-crlf-one\r\n  Wv8Kx-crlf-two\r\n",
        # Bytes that are not UTF-8 (b"\xff"), as the environment hands them to Python.
        "Wv8Kx-\udcff-not-utf8\n",
    ],
)
def test_whitespace_and_multi_line_secrets_are_masked_in_every_local_output(
    value: str, make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/shapes.op.py": SHAPES})
    env = {"TOKEN": value}
    runs = [
        chant_proc("run", "shapes", "--local", *flags, cwd=root, env=env)
        for flags in ([], ["--json"], ["--progress-json"], ["--debug"])
    ]
    assert [r.code for r in runs] == [1, 1, 1, 1]
    for ran in runs:
        assert "Wv8K" not in ran.out + ran.err
        assert "***" in ran.out


BROKEN_TEXT = """
from chant import Op, activity, phase


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


@activity
def odd() -> None:
    raise Unprintable()


op = Op(name="odd", phases=[phase("Go", [activity("odd", profile="policy_check")])])
"""


def test_an_error_whose_text_cannot_be_made_fails_its_step_and_nothing_else(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/odd.op.py": BROKEN_TEXT})
    ran = chant_proc("run", "odd", "--local", "--json", cwd=root)
    assert ran.code == 1, ran.err
    assert json.loads(ran.out)["steps"][0]["error"] == {
        "type": "Unprintable",
        "message": "(Unprintable: its message cannot be shown)",
    }


def test_a_record_keeps_chants_field_names_and_chosen_values_and_masks_the_rest() -> None:
    mask = Masker(["ok", "line"])
    assert mask.fields(
        {
            "status": "ok",
            "stream": "stdout",
            "line": "line ok",
            "error": {"type": "X", "message": "not ok"},
            "outcome": {"name": "N", "value": {"line": "ok"}},
        }
    ) == {
        "status": "ok",
        "stream": "stdout",
        "line": "*** ***",
        "error": {"type": "X", "message": "not ***"},
        "outcome": {"name": "N", "value": {"***": "***"}},
    }


SHORT = """
from chant import Op, Outcome, phase, secret, shell

short = Op(name="short", phases=[phase("Main phase", [
    shell('echo "value: $T"; echo line status ok stdout', env={"T": secret("T")},
          outcome=Outcome("Out", "stdout")),
    shell("echo bad >&2; exit 2", profile="policy_check"),
])], on_failure=[phase("Undo", [shell("echo undo")])])
"""


@pytest.mark.parametrize("value", ["a", "e", "ok", "failed", "line", "{", '"', "*"])
def test_a_short_or_common_secret_hides_text_but_breaks_no_output(
    value: str, make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/short.op.py": SHORT})
    env = {"T": value}
    human = chant_proc("run", "short", "--local", cwd=root, env=env)
    as_json = chant_proc("run", "short", "--local", "--json", cwd=root, env=env)
    events = chant_proc("run", "short", "--local", "--progress-json", cwd=root, env=env)
    assert [human.code, as_json.code, events.code] == [1, 1, 1], human.err
    assert "internal error" not in human.err + as_json.err + events.err
    doc = json.loads(as_json.out)
    assert [s["status"] for s in doc["steps"]] == ["ok", "failed", "ok"]
    assert "***" in doc["steps"][0]["outcome"]["value"]
    assert [json.loads(line)["type"] for line in events.out.splitlines()][-1] == "run_finished"
