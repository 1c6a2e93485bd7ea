"""The Op IR: plain frozen data with a strict, lossless JSON form."""

from __future__ import annotations

import copy
import dataclasses
import json
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chant import Op, Outcome, Profile, Retry, activity, gate, phase, secret, shell
from chant.errors import Problem
from chant.ir import SCHEMA_VERSION, ActivityStep, GateStep, IRError, Phase, Secret
from chant.plan import resolve_op


def minimal(**extra: Any) -> dict[str, Any]:
    """The smallest valid IR document, with ``extra`` keys merged in."""
    return {"schema_version": SCHEMA_VERSION, "name": "a", "phases": [], **extra}


def one_step(step: dict[str, Any]) -> dict[str, Any]:
    return minimal(phases=[{"name": "P", "steps": [step]}])


def roundtrip(op: Op) -> Op:
    """Through real JSON text, as ``chant build`` writes it and an executor reads it."""
    return Op.from_dict(json.loads(json.dumps(op.to_dict())))


# --- a strategy of arbitrary Ops ---------------------------------------------------

names = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
durations = st.sampled_from(["100ms", "1s", "30s", "5m", "1h30m", "2d", "1.5s"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
# "$"-prefixed keys are reserved: {"$secret": NAME} is how a Secret is written.
arg_keys = st.text(string.ascii_letters + "_", min_size=1, max_size=8)
json_values = st.recursive(
    scalars | st.builds(Secret, names),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(arg_keys, inner, max_size=3),
    max_leaves=8,
)
retries = st.builds(
    Retry,
    max_attempts=st.integers(0, 10),
    initial_interval=durations,
    backoff_coefficient=st.floats(1.0, 10.0),
    maximum_interval=st.none() | durations,
    non_retryable_error_types=st.lists(st.sampled_from(["A", "B", "CommandFailedError"])),
)
profiles = (
    st.none()
    | names
    | st.builds(
        Profile,
        timeout=durations,
        heartbeat_timeout=st.none() | durations,
        retry=retries,
        name=st.none() | names,
    )
)
outcomes = st.none() | st.builds(Outcome, names, st.none() | st.text(max_size=10))
activity_steps = st.builds(
    ActivityStep,
    fn=names,
    args=st.dictionaries(arg_keys, json_values, max_size=4),
    id=st.none() | names,
    profile=profiles,
    outcome=outcomes,
)
gate_steps = st.builds(
    GateStep,
    signal=names,
    timeout=durations,
    description=st.text(max_size=20),
    id=st.none() | names,
)
phases = st.builds(
    Phase,
    name=st.text(max_size=12),
    steps=st.lists(activity_steps | gate_steps, max_size=3),
    parallel=st.booleans(),
    fail_fast=st.booleans(),
    max_concurrency=st.none() | st.integers(1, 8),
)
ops = st.builds(
    Op,
    name=names,
    phases=st.lists(phases, max_size=3),
    overview=st.text(max_size=20),
    on_failure=st.lists(phases, max_size=2),
    depends=st.lists(names, max_size=2),
    task_queue=st.none() | names,
    search_attributes=st.dictionaries(names, st.text(max_size=8), max_size=2),
    schedule=st.none() | st.sampled_from(["every 1h", "0 3 * * *"]),
)


# --- round trip --------------------------------------------------------------------


@given(ops)
def test_any_op_survives_a_json_round_trip_unchanged(op: Op) -> None:
    assert roundtrip(op) == op


@given(ops)
def test_to_dict_is_plain_json(op: Op) -> None:
    text = json.dumps(op.to_dict(), allow_nan=False)
    assert json.loads(text) == op.to_dict()


def test_a_dsl_op_survives_a_json_round_trip_unchanged() -> None:
    op = Op(
        name="deploy",
        overview="Apply, approve, roll out",
        phases=[
            phase("Infra", [shell("make infra", env={"A": "1"}, outcome=Outcome("Out", "stdout"))]),
            phase("Approve", [gate("approve-prod", timeout="72h", description="ok?")]),
            phase(
                "App",
                [activity("http_check", url="http://x", profile="k8s_wait"), shell("true")],
                parallel=True,
                fail_fast=True,
                max_concurrency=2,
            ),
        ],
        on_failure=[phase("Rollback", [shell("make undo")])],
        depends=["base"],
        task_queue="q",
        search_attributes={"Team": "infra"},
        schedule="every 1h",
    )
    assert roundtrip(op) == op


def test_an_op_is_frozen() -> None:
    op = Op(name="a", phases=[])
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.name = "b"  # type: ignore[misc]


def test_to_dict_does_not_serialise_origins() -> None:
    op = Op(name="a", phases=[phase("P", [shell("true")])])
    assert "origin" not in json.dumps(op.to_dict())


def test_to_dict_writes_the_schema_version() -> None:
    assert Op(name="a", phases=[]).to_dict()["schema_version"] == SCHEMA_VERSION


# --- strictness --------------------------------------------------------------------


def test_unknown_top_level_keys_are_rejected_naming_them() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict(minimal(extra=1, more=2))
    assert str(err.value) == "op: unknown key(s) 'extra', 'more'"


def test_unknown_key_deep_in_a_step_is_rejected_with_its_path() -> None:
    doc = one_step({"kind": "activity", "fn": "shell", "profile": {"retry": {"bogus": 1}}})
    with pytest.raises(IRError) as err:
        Op.from_dict(doc)
    assert str(err.value) == "op.phases[0].steps[0].profile.retry: unknown key(s) 'bogus'"


def test_unknown_key_in_an_on_failure_phase_is_rejected_with_its_path() -> None:
    doc = minimal(on_failure=[{"name": "Undo", "steps": [], "serial": True}])
    with pytest.raises(IRError) as err:
        Op.from_dict(doc)
    assert str(err.value) == "op.on_failure[0]: unknown key(s) 'serial'"


def test_missing_keys_are_rejected_naming_them() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict({"name": "a"})
    assert str(err.value) == "op: missing key(s) 'schema_version', 'phases'"


def test_missing_key_in_a_gate_is_rejected_with_its_path() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict(one_step({"kind": "gate", "timeout": "1h"}))
    assert str(err.value) == "op.phases[0].steps[0]: missing key(s) 'signal'"


def test_unknown_step_kind_is_rejected_with_its_path() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict(one_step({"kind": "script", "fn": "shell"}))
    assert (
        str(err.value) == "op.phases[0].steps[0].kind: expected 'activity' or 'gate', got 'script'"
    )


def test_a_phase_that_is_not_an_object_is_rejected_with_its_path() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict(minimal(phases=["Build"]))
    assert str(err.value) == "op.phases[0]: expected an object, got str"


def test_a_wrongly_typed_value_is_rejected_with_its_path() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict(minimal(name=5))
    assert "op.name" in str(err.value)


def test_another_schema_version_is_rejected_with_the_fix() -> None:
    with pytest.raises(IRError) as err:
        Op.from_dict(minimal(schema_version=SCHEMA_VERSION + 1))
    assert str(err.value) == (
        f"op.schema_version: this chant reads version {SCHEMA_VERSION}, "
        f"got {SCHEMA_VERSION + 1}; rebuild with `chant build`"
    )


# --- secrets -----------------------------------------------------------------------


def test_a_secret_is_serialised_as_its_name() -> None:
    op = Op(name="a", phases=[phase("P", [shell("deploy", env={"TOKEN": secret("API_TOKEN")})])])
    step = op.to_dict()["phases"][0]["steps"][0]
    assert step["args"] == {"cmd": "deploy", "env": {"TOKEN": {"$secret": "API_TOKEN"}}}


def test_a_secret_value_in_the_environment_never_reaches_the_ir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value-123")
    op = Op(name="a", phases=[phase("P", [shell(secret("API_TOKEN"))])])
    assert "s3cr3t-value-123" not in json.dumps(op.to_dict())


def test_a_serialised_secret_reads_back_as_a_secret() -> None:
    doc = one_step({"kind": "activity", "fn": "shell", "args": {"cmd": {"$secret": "TOK"}}})
    step = Op.from_dict(doc).phases[0].steps[0]
    assert isinstance(step, ActivityStep)
    assert step.args == {"cmd": Secret("TOK")}


# --- outcomes ----------------------------------------------------------------------


def test_an_outcome_path_is_written_under_from() -> None:
    assert Outcome("Greeting", "stdout").to_dict() == {"name": "Greeting", "from": "stdout"}


def test_an_outcome_without_a_path_writes_from_as_null() -> None:
    assert Outcome("Whole").to_dict() == {"name": "Whole", "from": None}


def test_an_outcome_is_read_back_from_its_from_key() -> None:
    doc = one_step(
        {"kind": "activity", "fn": "shell", "outcome": {"name": "G", "from": "items.0.id"}}
    )
    step = Op.from_dict(doc).phases[0].steps[0]
    assert isinstance(step, ActivityStep)
    assert step.outcome == Outcome("G", "items.0.id")


def test_an_outcome_written_with_path_instead_of_from_is_rejected() -> None:
    doc = one_step({"kind": "activity", "fn": "shell", "outcome": {"name": "G", "path": "x"}})
    with pytest.raises(IRError) as err:
        Op.from_dict(doc)
    assert str(err.value) == "op.phases[0].steps[0].outcome: unknown key(s) 'path'"


# --- each key of each class is read with its own type -------------------------------

FULL_DOC = Op(
    name="a",
    phases=[
        Phase(
            name="P",
            steps=[
                ActivityStep(
                    fn="shell",
                    id="p.1",
                    args={"cmd": "make", "env": {"TOKEN": Secret("TOKEN")}},
                    profile=Profile(name="p", retry=Retry(non_retryable_error_types=["E"])),
                    outcome=Outcome("Built"),
                ),
                GateStep(signal="go", id="p.2", timeout="1h"),
            ],
        )
    ],
).to_dict()
"""An IR document with every key of every class."""
STEP = ("phases", 0, "steps", 0)
GATE = ("phases", 0, "steps", 1)
PROFILE = (*STEP, "profile")
RETRY = (*PROFILE, "retry")
OUTCOME = (*STEP, "outcome")
DELETE = object()


def at(doc: dict[str, Any], where: tuple[str | int, ...]) -> Any:
    """The value inside ``doc`` that the keys and indexes ``where`` lead to."""
    target: Any = doc
    for key in where:
        target = target[key]
    return target


def changed(where: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """``FULL_DOC`` with the key at ``where`` set to ``value`` (or deleted: ``DELETE``)."""
    doc = copy.deepcopy(FULL_DOC)
    target = at(doc, where[:-1])
    if value is DELETE:
        del target[where[-1]]
    else:
        target[where[-1]] = value
    return doc


def ir_error(doc: Any) -> str:
    with pytest.raises(IRError) as err:
        Op.from_dict(doc)
    return str(err.value)


def test_the_full_document_is_read_and_written_back_unchanged() -> None:
    assert Op.from_dict(copy.deepcopy(FULL_DOC)).to_dict() == FULL_DOC


S, P, R, G = "op.phases[0].steps[0]", "op.phases[0].steps[0].profile", "op.phases[0]", GATE


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        # Op
        (("name",), None, "op.name: expected a string, got null"),
        (("name",), 5, "op.name: expected a string, got int"),
        (("overview",), None, "op.overview: expected a string, got null"),
        (("schema_version",), None, "op.schema_version: expected an integer, got null"),
        (("schema_version",), True, "op.schema_version: expected an integer, got bool"),
        (("phases",), None, "op.phases: expected a list, got null"),
        (("on_failure",), {}, "op.on_failure: expected a list, got dict"),
        (("depends",), ["b", 2], "op.depends[1]: expected a string, got int"),
        (("task_queue",), 5, "op.task_queue: expected a string or null, got int"),
        (("schedule",), [], "op.schedule: expected a string or null, got list"),
        (("search_attributes",), None, "op.search_attributes: expected an object, got null"),
        (
            ("search_attributes",),
            {"env": 1},
            "op.search_attributes['env']: expected a string, got int",
        ),
        # Phase
        (("phases", 0, "name"), None, f"{R}.name: expected a string, got null"),
        (("phases", 0, "steps"), None, f"{R}.steps: expected a list, got null"),
        (("phases", 0, "parallel"), None, f"{R}.parallel: expected true or false, got null"),
        (("phases", 0, "fail_fast"), 1, f"{R}.fail_fast: expected true or false, got int"),
        (
            ("phases", 0, "max_concurrency"),
            "2",
            f"{R}.max_concurrency: expected an integer or null, got str",
        ),
        # ActivityStep
        ((*STEP, "fn"), None, f"{S}.fn: expected a string, got null"),
        ((*STEP, "id"), 1, f"{S}.id: expected a string or null, got int"),
        ((*STEP, "args"), None, f"{S}.args: expected an object, got null"),
        (
            (*STEP, "args"),
            {"env": {"TOKEN": {"$secret": 5}}},
            f"{S}.args['env']['TOKEN'].$secret: expected a string, got int",
        ),
        (
            (*STEP, "profile"),
            5,
            f"{S}.profile: expected a profile name, a profile object or null, got int",
        ),
        ((*STEP, "outcome"), "G", f"{S}.outcome: expected an object or null, got str"),
        # Outcome
        ((*OUTCOME, "name"), None, f"{S}.outcome.name: expected a string, got null"),
        ((*OUTCOME, "from"), 0, f"{S}.outcome.from: expected a string or null, got int"),
        # Profile
        ((*PROFILE, "name"), 5, f"{P}.name: expected a string or null, got int"),
        ((*PROFILE, "timeout"), None, f"{P}.timeout: expected a string, got null"),
        (
            (*PROFILE, "heartbeat_timeout"),
            30,
            f"{P}.heartbeat_timeout: expected a string or null, got int",
        ),
        ((*PROFILE, "retry"), None, f"{P}.retry: expected an object, got null"),
        # Retry
        ((*RETRY, "max_attempts"), None, f"{P}.retry.max_attempts: expected an integer, got null"),
        ((*RETRY, "max_attempts"), 2.5, f"{P}.retry.max_attempts: expected an integer, got float"),
        (
            (*RETRY, "initial_interval"),
            1,
            f"{P}.retry.initial_interval: expected a string, got int",
        ),
        (
            (*RETRY, "backoff_coefficient"),
            True,
            f"{P}.retry.backoff_coefficient: expected a number, got bool",
        ),
        (
            (*RETRY, "maximum_interval"),
            60,
            f"{P}.retry.maximum_interval: expected a string or null, got int",
        ),
        (
            (*RETRY, "non_retryable_error_types"),
            ["A", None],
            f"{P}.retry.non_retryable_error_types[1]: expected a string, got null",
        ),
        # GateStep
        ((*G, "signal"), None, "op.phases[0].steps[1].signal: expected a string, got null"),
        ((*G, "timeout"), None, "op.phases[0].steps[1].timeout: expected a string, got null"),
        ((*G, "description"), 0, "op.phases[0].steps[1].description: expected a string, got int"),
        ((*G, "id"), [], "op.phases[0].steps[1].id: expected a string or null, got list"),
    ],
)
def test_a_key_of_the_wrong_type_or_null_is_rejected_with_its_path(
    where: tuple[str | int, ...], value: Any, message: str
) -> None:
    assert ir_error(changed(where, value)) == message


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (("name",), "op: missing key(s) 'name'"),
        (("schema_version",), "op: missing key(s) 'schema_version'"),
        (("phases", 0, "name"), "op.phases[0]: missing key(s) 'name'"),
        (("phases", 0, "steps"), "op.phases[0]: missing key(s) 'steps'"),
        ((*STEP, "fn"), f"{S}: missing key(s) 'fn'"),
        ((*G, "signal"), "op.phases[0].steps[1]: missing key(s) 'signal'"),
        ((*OUTCOME, "name"), f"{S}.outcome: missing key(s) 'name'"),
    ],
)
def test_a_missing_required_key_is_rejected_with_its_path(
    where: tuple[str | int, ...], message: str
) -> None:
    assert ir_error(changed(where, DELETE)) == message


@pytest.mark.parametrize(
    ("where", "optional"),
    [
        ((), ("overview", "on_failure", "depends", "task_queue", "search_attributes", "schedule")),
        (("phases", 0), ("parallel", "fail_fast", "max_concurrency")),
        (STEP, ("id", "args", "profile", "outcome")),
        (GATE, ("id", "timeout", "description")),
        (PROFILE, ("name", "timeout", "heartbeat_timeout", "retry")),
        (RETRY, ("max_attempts", "initial_interval", "backoff_coefficient")),
        (RETRY, ("maximum_interval", "non_retryable_error_types")),
        (OUTCOME, ("from",)),
    ],
)
def test_an_optional_key_may_be_left_out(
    where: tuple[str | int, ...], optional: tuple[str, ...]
) -> None:
    doc = copy.deepcopy(FULL_DOC)
    target = at(doc, where)
    for key in optional:
        del target[key]
    Op.from_dict(doc)


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ((), "op"),
        (("phases", 0), "op.phases[0]"),
        (STEP, S),
        (GATE, "op.phases[0].steps[1]"),
        (PROFILE, P),
        (RETRY, f"{P}.retry"),
        (OUTCOME, f"{S}.outcome"),
    ],
)
def test_an_unknown_key_of_each_class_is_rejected_with_its_path(
    where: tuple[str | int, ...], path: str
) -> None:
    assert ir_error(changed((*where, "bogus"), 1)) == f"{path}: unknown key(s) 'bogus'"


def test_an_object_with_a_key_that_is_not_a_string_is_rejected() -> None:
    assert ir_error({**FULL_DOC, 1: "x"}) == "op: keys must be strings, got 1 (int)"


def test_a_document_that_is_not_an_object_is_rejected_naming_null() -> None:
    assert ir_error(None) == "op: expected an object, got null"


# --- resolution leaves the declared Op alone ----------------------------------------


def declared() -> Op:
    return Op(
        name="deploy",
        phases=[
            phase("Build It", [shell("make", profile="long_infra"), shell("make test")]),
            phase("Ship", [shell("ship", id="ship-it", outcome="Shipped")]),
        ],
        on_failure=[phase("Undo", [shell("undo")])],
    )


def resolve(op: Op) -> Op:
    problems: list[Problem] = []
    out = resolve_op(op, profiles={}, activities={"shell": "fast_idempotent"}, problems=problems)
    assert problems == []
    return out


def test_resolving_an_op_leaves_the_declared_op_unchanged() -> None:
    op = declared()
    before = copy.deepcopy(op)
    resolve(op)
    assert op == before
    assert op.to_dict() == before.to_dict()


def test_a_resolved_op_survives_a_json_round_trip_unchanged() -> None:
    resolved = resolve(declared())
    assert roundtrip(resolved) == resolved


def test_resolving_twice_gives_equal_ops() -> None:
    assert resolve(declared()) == resolve(declared())


def test_a_resolved_op_differs_from_the_declared_one_only_in_ids_and_profiles() -> None:
    op = declared()
    resolved = resolve(op)
    assert resolved != op
    assert resolved.name == op.name
    assert [p.name for p in resolved.phases] == [p.name for p in op.phases]
    assert [s.args for p in resolved.phases for s in p.steps] == [
        s.args for p in op.phases for s in p.steps
    ]


# --- malformed IR: an error naming the path, never a crash ----------------------------

IR_KEYS = [
    *("kind", "fn", "args", "name", "steps", "phases", "profile", "retry", "timeout"),
    *("max_attempts", "outcome", "from", "$secret", "signal", "parallel", "id"),
]
junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["activity", "gate", "$secret", "5s", "P"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(IR_KEYS),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(phases=junk, extra=st.dictionaries(st.sampled_from(["on_failure", "depends"]), junk))
def test_from_dict_of_any_json_raises_only_ir_error_and_check_ir_never_raises(
    phases: Any, extra: dict[str, Any]
) -> None:
    from chant.plan import check_ir

    try:
        op = Op.from_dict(minimal(phases=phases, **extra))
    except IRError:
        return
    check_ir(op)  # returns problems; never raises


@pytest.mark.parametrize("steps", [5, "abc", None, {"a": 1}])
def test_a_phase_keeps_steps_that_are_not_a_list_for_the_build_to_report(steps: Any) -> None:
    assert phase("P", steps).steps == steps


def test_an_op_keeps_phases_that_are_not_a_list_for_the_build_to_report() -> None:
    op = Op(name="a", phases="abc", depends=5)  # type: ignore[arg-type]
    assert (op.phases, op.depends) == ("abc", 5)
