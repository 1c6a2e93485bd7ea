"""The plan document's parts: canonical JSON (the digest's input), the budget of a
parallel phase, conditions decided by parameters alone, parameters put into arguments."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chant.flow import Scope
from chant.plandoc import _makespan, canonical, decide, digest, with_params
from chant.refs import out, param, to_ir

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_canonical_json_is_jsons_sorted_compact_form(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_canonical_json_has_no_nan_or_infinity(number: float) -> None:
    with pytest.raises(ValueError, match="JSON has no such number"):
        canonical([number])


def test_the_digest_ignores_key_order_and_its_own_field() -> None:
    a = digest({"op": "x", "digest": "old", "params": {"a": 1, "b": 2}})
    b = digest({"params": {"b": 2, "a": 1}, "op": "x"})
    assert a == b and a.startswith("sha256:") and len(a) == 71
    assert digest({"op": "x", "params": {"a": 1, "b": 3}}) != a
    # A lone surrogate (a byte that was not UTF-8 on the command line) still hashes.
    assert digest({"op": "\udcff"}).startswith("sha256:")


@pytest.mark.parametrize(
    ("costs", "slots", "expected"),
    [
        ([10.0] * 5, 2, 30.0),
        ([10.0] * 5, 5, 10.0),
        ([10.0] * 5, 9, 10.0),
        ([30.0, 10.0, 10.0, 10.0], 2, 30.0),
        ([10.0, 10.0, 30.0], 2, 40.0),  # the third starts when a first one ends
        ([], 3, 0.0),
        ([1.0, None], 2, None),
    ],
)
def test_a_parallel_phase_takes_its_steps_in_order_on_its_slots(
    costs: list[float | None], slots: int, expected: float | None
) -> None:
    assert _makespan(costs, slots) == expected


def _ir(condition: object) -> object:
    return to_ir(condition)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (param("env") == "prod", False),
        (param("env") == "staging", True),
        (out("build") == "x", None),
        ((param("env") == "prod") & (out("build") == "x"), False),
        ((param("env") == "staging") & (out("build") == "x"), None),
        ((param("env") == "staging") | (out("build") == "x"), True),
        ((param("env") == "prod") | (out("build") == "x"), None),
        (~(param("env") == "prod"), True),
        (~(out("build") == "x"), None),
        (param("n") > "a", None),  # cannot be compared: the run fails the step, not the plan
        (param("n"), True),
    ],
)
def test_conditions_are_decided_as_far_as_parameters_decide_them(
    condition: object, expected: bool | None
) -> None:
    scope = Scope({"env": "staging", "n": 3})
    assert decide(_ir(condition), scope) is expected  # type: ignore[arg-type]


def test_parameters_are_put_in_and_references_kept() -> None:
    args = to_ir(
        {
            "cmd": f"deploy {param('env')} {out('build', 'stdout')} x{param('n')}",
            "plain": f"to {param('env')}",
            "list": [param("n"), {"deep": param("flag")}],
            "ref": out("build", default="none"),
        }
    )
    put = with_params(args, {"env": "prod", "n": 3, "flag": True})
    assert put == {
        "cmd": {"$format": ["deploy prod ", {"$out": "build", "path": "stdout"}, " x3"]},
        "plain": "to prod",
        "list": [3, {"deep": True}],
        "ref": {"$out": "build", "default": "none"},  # a default is not the value
    }


def test_an_object_met_twice_is_written_the_same_both_times() -> None:
    shared = {"retry": {"max_attempts": 3}, "timeout": "5m"}
    value = {"a": shared, "b": [shared, {"x": shared}]}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(value) == expected  # type: ignore[arg-type]


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=40),
    st.integers(min_value=1, max_value=50),
)
def test_a_parallel_phase_ends_when_its_last_slot_frees(costs: list[float], slots: int) -> None:
    # Each step, in order, takes the slot that frees first (the lowest such slot).
    ends = [0.0] * min(slots, len(costs))
    for cost in costs:
        first = min(range(len(ends)), key=ends.__getitem__)
        ends[first] += cost
    assert _makespan(costs, slots) == max(ends, default=0.0)  # type: ignore[arg-type]
