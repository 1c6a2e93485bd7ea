"""chant's JSON Schemas (``chant schema ir|result|events|plan``) are valid draft 2020-12,
printed exactly as their files hold them, and true to what chant writes: the IR of every
example project, of the parity project, of an Op using every field and of fuzzed Ops;
run results and events of local runs that succeed, retry and compensate, skip steps by
condition, take parameters, mask secrets, cancel siblings and are interrupted; and
``chant plan --json`` of every example Op. Documents with a wrong type, an unknown key
or a bad status are refused, so the schemas are not ``{}``. (Temporal runs:
tests/temporal/test_schemas_temporal.py and tests/scenarios/test_parity.py.)
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import event, given, settings
from jsonschema.exceptions import best_match

from chant.events import EventType
from chant.schemas import NAMES, load, text
from conftest import Chant, Ran
from test_fuzz_definitions import FAST, chant_here, op_files
from test_fuzz_definitions import project as fuzz_project

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "chant.toml").is_file())
PARITY = ROOT / "tests" / "scenarios" / "project"
PROJECTS = {p.name: p for p in EXAMPLES} | {"parity": PARITY}
SECRET = "s3cr3t-schema-value"


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        load(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def problems(name: str, doc: Any) -> list[str]:
    """Why ``doc`` is not a valid ``name`` document (schema ``name``), one line each."""
    return [f"{e.json_path}: {e.message}" for e in validator(name).iter_errors(doc)]


def assert_valid(name: str, docs: list[Any]) -> None:
    """Every one of ``docs`` is a valid ``name`` document; else every problem, named."""
    found = [f"{i}: {p}" for i, doc in enumerate(docs) for p in problems(name, doc)]
    assert found == [], "\n".join(found)


def events_of(stdout: str) -> list[dict[str, Any]]:
    """The events of ``--progress-json`` output: one JSON document a line."""
    return [json.loads(line) for line in stdout.splitlines()]


def copy_project(source: Path, tmp_path: Path) -> Path:
    root = tmp_path / source.name
    shutil.copytree(
        source, root, ignore=shutil.ignore_patterns("dist", "state", ".deployed", "__pycache__")
    )
    (root / "state").mkdir(exist_ok=True)  # the parity project's steps keep state there
    return root


# -- the schemas themselves ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:chant:schema:{name}:1"
    assert schema["description"]


@pytest.mark.parametrize("name", NAMES)
def test_chant_schema_prints_the_schema_file_exactly(name: str, chant: Chant) -> None:
    ran = chant("schema", name, cwd=ROOT)
    assert (ran.code, ran.err) == (0, "")
    path = ROOT / "src" / "chant" / "schemas" / f"{name}.schema.json"
    assert ran.out == path.read_text(encoding="utf-8") == text(name)
    assert json.loads(ran.out) == load(name)


def test_chant_schema_works_outside_a_project_as_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chant", "schema", "events"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", text("events"))


def test_chant_schema_names_the_schemas_it_has(chant: Chant) -> None:
    ran = chant("schema", "junit", cwd=ROOT)
    assert ran.code == 2
    assert ran.err.splitlines()[-1] == (
        'chant schema: error: argument DOCUMENT: unknown value "junit"; choose from '
        + ", ".join(NAMES)
    )


def test_load_refuses_a_schema_it_does_not_have() -> None:
    with pytest.raises(ValueError) as caught:
        load("junit")
    assert str(caught.value) == "no schema 'junit' (one of: ir, result, events, plan)"


def test_definitions_shared_by_several_schemas_are_the_same_in_each() -> None:
    # Each file stands alone (an editor or CI needs only that one), so a part several
    # documents share is written in each: here it cannot drift.
    seen: dict[str, tuple[str, Any]] = {}
    for name in NAMES:
        for key, definition in load(name)["$defs"].items():
            first = seen.setdefault(key, (name, definition))
            assert definition == first[1], f"$defs/{key} differs in {name} and {first[0]}"


@pytest.mark.parametrize("name", NAMES)
def test_every_definition_is_used(name: str) -> None:
    schema = load(name)
    body = json.dumps(schema)
    unused = [k for k in schema["$defs"] if f'"#/$defs/{k}"' not in body]
    assert unused == []


def test_every_event_type_has_its_keys_in_the_events_schema() -> None:
    schema = load("events")
    assert schema["properties"]["type"]["enum"] == [t.value for t in EventType]
    typed = [rule["if"]["properties"]["type"]["const"] for rule in schema["allOf"]]
    assert typed == [t.value for t in EventType]


# -- the IR ---------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", list(PROJECTS))
def test_the_ir_of_every_example_project_is_valid(
    folder: str, tmp_path: Path, chant_proc: Callable[..., Ran]
) -> None:
    root = copy_project(PROJECTS[folder], tmp_path)
    built = chant_proc("build", cwd=root)
    assert built.code == 0, built.err
    files = sorted((root / "dist" / "ops").glob("*.op.json"))
    assert files
    assert_valid("ir", [json.loads(f.read_text()) for f in files])


EVERYTHING = """
from chant import (
    Op, Outcome, Param, Profile, Retry, activity, gate, http_check, out, outcome, param,
    phase, secret, shell,
)


@activity
def publish(payload: dict, token: str, tag: str) -> dict:
    return payload


patient = Profile(
    timeout="1h30m",
    heartbeat_timeout="30s",
    retry=Retry(
        max_attempts=0,
        initial_interval="100ms",
        backoff_coefficient=1.5,
        maximum_interval="2m",
        non_retryable_error_types=["QuotaExceededError"],
    ),
)

everything = Op(
    name="everything",
    overview="Every field of the IR",
    params={
        "env": Param(str, default="staging", choices=["staging", "prod"], help="where"),
        "replicas": Param(int, default=2, choices=[1, 2, 3]),
        "ratio": Param(float, default=0.5),
        "force": Param(bool, default=False),
        "regions": Param(list[str], default=["eu"], choices=["eu", "us"]),
        "version": Param(str, help="required"),
    },
    depends=["other"],
    task_queue="deploys",
    search_attributes={"Team": "platform"},
    schedule="0 3 * * *",
    schedule_params={"version": "1.0", "regions": ["eu", "us"]},
    phases=[
        phase(
            "Build",
            [
                shell(
                    f"echo {param('version')} {secret('TOKEN')}",
                    id="build",
                    env={"TOKEN": secret("TOKEN")},
                    outcome=Outcome("Built", "stdout"),
                    profile=patient,
                ),
                activity(
                    "publish",
                    payload={"n": 3, "x": None, "l": [1.5, {"a": True}], "$schema": "s"},
                    token=secret("TOKEN"),
                    tag=f"v{param('version')}",
                ),
                http_check("http://127.0.0.1:9/health", profile="fast_idempotent"),
            ],
            parallel=True,
            fail_fast=True,
            max_concurrency=2,
        ),
        phase(
            "Approve",
            [gate("approve-prod", timeout="2h", description="ship it?")],
            when=(param("env") == "prod") & ~param("force"),
        ),
        phase(
            "Ship",
            [
                shell(
                    f"echo {out('build', 'stdout', default='none')} {outcome('Built', default=0)}",
                    when=param("regions").contains("us") | (param("replicas") >= 2),
                ),
                shell("echo lit", when=out("build", "stdout") == {"a": [1, 2]}),
                shell("echo listed", when=param("env").is_in(["prod", "staging"])),
                shell("echo format", when=param("env") == f"pr{param('version')}"),
            ],
        ),
    ],
    on_failure=[phase("Undo", [shell("echo undo", outcome="Undone")], when=outcome("Built"))],
)

other = Op(name="other", phases=[phase("Only", [shell("true")])])
"""


@pytest.fixture
def everything(make_project: Callable[..., Path], chant_proc: Callable[..., Ran]) -> Path:
    """A project whose Op "everything" uses every field of the IR, built."""
    root = make_project({"chant.toml": '[project]\nops = ["ops"]\n', "ops/all.op.py": EVERYTHING})
    built = chant_proc("build", cwd=root)
    assert built.code == 0, built.err
    return root


def test_an_op_using_every_field_builds_to_a_valid_ir(everything: Path) -> None:
    ir = json.loads((everything / "dist" / "ops" / "everything.op.json").read_text())
    assert_valid("ir", [ir])
    text_ = json.dumps(ir)
    for form in ('"kind": "gate"', '"$lit"', '"$and"', '"$or"', '"$not"', '"$secret"'):
        assert form in text_, form  # the Op really has what the test says it has
    assert ir["params"] and ir["schedule_params"] and ir["search_attributes"]


@settings(FAST, max_examples=80)
@given(source=op_files())
def test_the_ir_of_every_fuzzed_op_that_builds_is_valid(source: str) -> None:
    # The op files of test_fuzz_definitions: one mistake, many or none.
    with fuzz_project({"ops/fuzz.op.py": source.encode()}) as root:
        code, _, err = chant_here("build")
        assert code in (0, 2), err
        event(f"build exit {code}")
        docs = [json.loads(p.read_text()) for p in sorted(root.glob("dist/ops/*.op.json"))]
        assert_valid("ir", docs)


HELLO_IR: dict[str, Any] = {
    "schema_version": 1,
    "name": "hello",
    "overview": "",
    "phases": [
        {
            "name": "Greet",
            "steps": [
                {
                    "kind": "activity",
                    "id": "greet.1",
                    "fn": "shell",
                    "args": {"cmd": "echo hi"},
                    "profile": {
                        "name": "fast_idempotent",
                        "timeout": "5m",
                        "heartbeat_timeout": None,
                        "retry": {
                            "max_attempts": 3,
                            "initial_interval": "5s",
                            "backoff_coefficient": 2.0,
                            "maximum_interval": None,
                            "non_retryable_error_types": [],
                        },
                    },
                    "outcome": None,
                }
            ],
            "parallel": False,
            "fail_fast": False,
            "max_concurrency": None,
        }
    ],
    "on_failure": [],
    "depends": [],
    "task_queue": None,
    "search_attributes": {},
    "schedule": None,
}


def _step(doc: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = doc["phases"][0]["steps"][0]
    return step


Change = Callable[[dict[str, Any]], object]


def refused(name: str, base: dict[str, Any], change: Change) -> str:
    """``base`` changed by ``change``: the one problem the schema names first."""
    assert problems(name, base) == []
    doc = copy.deepcopy(base)
    change(doc)
    error = best_match(validator(name).iter_errors(doc))
    assert error is not None, "the changed document was accepted"
    return f"{error.json_path}: {error.message}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(extra=1),
            "$: Additional properties are not allowed ('extra' was unexpected)",
        ),
        (lambda d: d.update(schema_version=2), "$.schema_version: 1 was expected"),
        (lambda d: d.pop("depends"), "$: 'depends' is a required property"),
        (
            lambda d: d.update(name="Hello World"),
            "$.name: 'Hello World' does not match '^[a-z0-9]+(?:-[a-z0-9]+)*$'",
        ),
        (lambda d: d.update(phases=[]), "$.phases: [] should be non-empty"),
        (
            lambda d: _step(d).update(kind="activiti"),
            "$.phases[0].steps[0].kind: 'activiti' is not one of ['activity', 'gate']",
        ),
        (
            lambda d: _step(d).pop("profile"),
            "$.phases[0].steps[0]: 'profile' is a required property",
        ),
        (
            lambda d: _step(d)["profile"]["retry"].update(max_attempts=-1),
            "$.phases[0].steps[0].profile.retry.max_attempts: -1 is less than the minimum of 0",
        ),
        (
            lambda d: _step(d)["profile"].update(timeout="5 minutes"),
            "$.phases[0].steps[0].profile.timeout: '5 minutes' does not match "
            "'^(?:[0-9]+(?:\\\\.[0-9]+)?(?:ms|s|m|h|d))+$'",
        ),
        (
            lambda d: _step(d).update(when={"$cmp": "=~", "left": {"$param": "env"}, "right": 1}),
            "$.phases[0].steps[0].when['$cmp']: '=~' is not one of "
            "['==', '!=', '<', '<=', '>', '>=', 'in']",
        ),
        (
            lambda d: _step(d).update(when=True),
            "$.phases[0].steps[0].when: True is not of type 'object'",
        ),
        (
            lambda d: _step(d).update(args={"cmd": {"$param": 3}}),
            "$.phases[0].steps[0].args.cmd['$param']: 3 is not of type 'string'",
        ),
        (
            lambda d: _step(d).update(args={"cmd": {"$secret": "1X"}}),
            "$.phases[0].steps[0].args.cmd['$secret']: '1X' does not match "
            "'^[A-Za-z_][A-Za-z0-9_]*$'",
        ),
        (
            lambda d: d["phases"][0].update(fail_fast=True),
            "$.phases[0].fail_fast: False was expected",
        ),
        (
            lambda d: d.update(
                params={"n": {"type": "int", "default": "2", "choices": None, "help": ""}}
            ),
            "$.params.n.default: '2' is not of type 'integer'",
        ),
    ],
)
def test_the_ir_schema_refuses_what_chant_never_writes(change: Change, expected: str) -> None:
    assert refused("ir", HELLO_IR, change) == expected


# -- run results and events, locally -----------------------------------------------------

# Ops of the parity project: what each run shows, checked beside its validity.
LOCAL_RUNS: dict[str, tuple[list[str], int]] = {
    "happy": ([], 0),
    "exhausted": ([], 1),  # retried, failed for good, compensated
    "conditions": ([], 0),  # steps skipped by conditions, with their reasons
    "data-flow": (["version=1.5", "env=prod", "regions=eu,us", "ratio=0.25"], 0),
    "secrets": ([], 1),  # a secret masked in args, output and errors
    "fail-fast": ([], 1),  # a sibling cancelled
    "unresolved": ([], 1),  # references without a value
}


def run_parity_op(root: Path, name: str, output: str) -> subprocess.CompletedProcess[str]:
    args, _code = LOCAL_RUNS[name]
    return subprocess.run(
        [sys.executable, "-m", "chant", "run", name, *args, "--local", output],
        cwd=root,
        env={**os.environ, "PARITY_TOKEN": SECRET},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", list(LOCAL_RUNS))
def test_local_run_results_and_events_are_valid(name: str, tmp_path: Path) -> None:
    root = copy_project(PARITY, tmp_path)
    ran = run_parity_op(root, name, "--json")
    assert ran.returncode == LOCAL_RUNS[name][1], ran.stderr
    result = json.loads(ran.stdout)
    assert_valid("result", [result])
    streamed = run_parity_op(root, name, "--progress-json")
    assert streamed.returncode == ran.returncode, streamed.stderr
    events = events_of(streamed.stdout)
    assert_valid("events", events)
    types = {e["type"] for e in events}
    statuses = {s["status"] for s in result["steps"]}
    if name == "exhausted":
        assert {"step_retrying", "compensation_started"} <= types
        assert any(s["compensation"] for s in result["steps"])
    if name == "conditions":
        assert any(s["status"] == "skipped" and s["reason"] for s in result["steps"])
    if name == "data-flow":
        assert result["params"]["regions"] == ["eu", "us"]
    if name == "secrets":
        assert SECRET not in ran.stdout + streamed.stdout
        assert "***" in ran.stdout and "***" in streamed.stdout
    if name == "fail-fast":
        assert "cancelled" in statuses


INTERRUPTED = """
from chant import Op, phase, shell

op = Op(
    name="slow",
    phases=[phase("Wait", [shell("touch started; sleep 30")])],
    on_failure=[phase("Undo", [shell("echo undone")])],
)
"""


def _interrupted(root: Path, output: str) -> tuple[int, str]:
    """``chant run slow --local OUTPUT``, interrupted (SIGINT) once its step started."""
    (root / "started").unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chant", "run", "slow", "--local", output],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (root / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out


def test_an_interrupted_runs_result_and_events_are_valid(
    make_project: Callable[..., Path],
) -> None:
    root = make_project({"chant.toml": "", "ops/slow.op.py": INTERRUPTED})
    code, out = _interrupted(root, "--json")
    assert code == 130
    result = json.loads(out)
    assert (result["status"], result["error"]["type"]) == ("interrupted", "Interrupted")
    assert_valid("result", [result])
    code, out = _interrupted(root, "--progress-json")
    assert code == 130
    events = events_of(out)
    assert events[-1]["status"] == "interrupted"
    assert_valid("events", events)


RESULT: dict[str, Any] = {
    "op": "hello",
    "mode": "local",
    "run_id": "5735fd759359",
    "ok": True,
    "status": "ok",
    "duration_ms": 8,
    "failed_step": None,
    "error": None,
    "params": {},
    "plan_digest": "sha256:" + "0" * 64,
    "steps": [
        {
            "id": "greet.1",
            "phase": "Greet",
            "fn": "shell",
            "args": {"cmd": "echo hi"},
            "status": "ok",
            "attempts": 1,
            "duration_ms": 3,
            "outcome": {"name": "Greeting", "value": "hi"},
            "result": {"exit_code": 0, "stdout": "hi", "stderr": ""},
            "error": None,
            "compensation": False,
            "reason": None,
        }
    ],
    "outcomes": {"Greeting": "hi"},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(status="done"),
            "$.status: 'done' is not one of ['ok', 'failed', 'interrupted']",
        ),
        (lambda d: d.update(status="failed"), "$.ok: False was expected"),
        (lambda d: d.update(mode="remote"), "$.mode: 'remote' is not one of ['local', 'temporal']"),
        (lambda d: d.pop("plan_digest"), "$: 'plan_digest' is a required property"),
        (
            lambda d: d.update(plan_digest="sha256:ABC"),
            "$.plan_digest: 'sha256:ABC' does not match '^sha256:[0-9a-f]{64}$'",
        ),
        (lambda d: d.update(duration_ms=1.5), "$.duration_ms: 1.5 is not of type 'integer'"),
        (
            lambda d: d["steps"][0].update(status="running"),
            "$.steps[0].status: 'running' is not one of ['ok', 'failed', 'skipped', 'cancelled']",
        ),
        (
            lambda d: d["steps"][0].update(status="failed"),
            "$.steps[0].error: None is not of type 'object'",
        ),
        (
            lambda d: d["steps"][0].update(extra=1),
            "$.steps[0]: Additional properties are not allowed ('extra' was unexpected)",
        ),
        (
            lambda d: d["steps"][0].update(status="failed", error={"type": "X"}),
            "$.steps[0].error: 'message' is a required property",
        ),
    ],
)
def test_the_result_schema_refuses_what_chant_never_writes(change: Change, expected: str) -> None:
    assert refused("result", RESULT, change) == expected


HEAD = {"v": 1, "seq": 1, "ts": "2026-11-24T01:02:11.498Z", "run_id": "29efa83cd226", "op": "hello"}
RUN_STARTED = HEAD | {
    "type": "run_started",
    "mode": "local",
    "steps": 3,
    "params": {},
    "plan_digest": "sha256:" + "f" * 64,
}
STEP_OUTPUT = HEAD | {"type": "step_output", "step": "greet.1", "stream": "stdout", "line": "hi"}


@pytest.mark.parametrize(
    ("base", "change", "expected"),
    [
        (RUN_STARTED, lambda d: d.pop("plan_digest"), "$: 'plan_digest' is a required property"),
        (
            RUN_STARTED,
            lambda d: d.update(type="run_paused"),
            "$.type: 'run_paused' is not one of "
            "['run_started', 'phase_started', 'step_started', 'step_output', 'step_retrying', "
            "'step_finished', 'phase_finished', 'compensation_started', 'run_finished']",
        ),
        (RUN_STARTED, lambda d: d.update(seq=0), "$.seq: 0 is less than the minimum of 1"),
        (RUN_STARTED, lambda d: d.update(v=2), "$.v: 1 was expected"),
        (
            RUN_STARTED,
            lambda d: d.update(ts="2026-11-24 01:02:11"),
            "$.ts: '2026-11-24 01:02:11' does not match "
            "'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\\\.[0-9]{3}Z$'",
        ),
        (
            STEP_OUTPUT,
            lambda d: d.update(stream="stdin"),
            "$.stream: 'stdin' is not one of ['stdout', 'stderr', 'log']",
        ),
        (
            STEP_OUTPUT,
            lambda d: d.update(status="ok"),
            "$: Additional properties are not allowed ('status' was unexpected)",
        ),
        (STEP_OUTPUT, lambda d: d.pop("line"), "$: 'line' is a required property"),
    ],
)
def test_the_events_schema_refuses_what_chant_never_writes(
    base: dict[str, Any], change: Change, expected: str
) -> None:
    assert refused("events", base, change) == expected


# -- plans ----------------------------------------------------------------------------------


def _given(param: dict[str, Any]) -> str:
    """A value for a required parameter, as ``chant list --json`` describes it."""
    if param["choices"]:
        value = param["choices"][0]
    else:
        value = {"str": "1.0", "int": 1, "float": 0.5, "bool": True, "list": ["a"]}[param["type"]]
    if isinstance(value, list):
        value = ",".join(value)
    return f"{param['name']}={str(value).lower() if isinstance(value, bool) else value}"


@pytest.mark.parametrize("folder", list(PROJECTS))
def test_the_plan_of_every_example_op_is_valid(folder: str, tmp_path: Path, chant: Chant) -> None:
    root = copy_project(PROJECTS[folder], tmp_path)
    listed = chant("list", "--json", cwd=root)
    assert listed.code == 0, listed.err
    plans = []
    for op in json.loads(listed.out):
        given_ = [_given(p) for p in op.get("params") or () if p["required"]]
        planned = chant("plan", op["name"], *given_, "--json", cwd=root)
        assert planned.code == 0, planned.err
        plans.append(json.loads(planned.out))
    assert plans
    assert_valid("plan", plans)


def test_the_plan_of_an_op_using_every_field_is_valid(
    everything: Path, chant_proc: Callable[..., Ran]
) -> None:
    plans = []
    for env in ("staging", "prod"):  # the gate's phase skipped at plan time, then kept
        planned = chant_proc(
            "plan", "everything", "version=1", f"env={env}", "--json", cwd=everything
        )
        assert planned.code == 0, planned.err
        plans.append(json.loads(planned.out))
    assert_valid("plan", plans)
    gates = [s["gate"] for p in plans[1]["phases"] for s in p["steps"] if s["gate"]]
    assert gates and plans[1]["budget"]["gates_s"] == 7200


PLAN: dict[str, Any] = {
    "v": 1,
    "op": "hello",
    "overview": "",
    "digest": "sha256:" + "a" * 64,
    "params": {},
    "secrets": [],
    "schedule": None,
    "phases": [
        {
            "name": "Greet",
            "parallel": False,
            "fail_fast": False,
            "max_concurrency": None,
            "compensation": False,
            "when": None,
            "budget_s": 930.0,
            "steps": [
                {
                    "id": "greet.1",
                    "fn": "shell",
                    "args": {"cmd": "echo hi"},
                    "profile": HELLO_IR["phases"][0]["steps"][0]["profile"],
                    "gate": None,
                    "outcome": None,
                    "when": None,
                    "budget": {
                        "attempts": 3,
                        "timeout_s": 300.0,
                        "waits_s": 15.0,
                        "worst_s": 915.0,
                    },
                }
            ],
        }
    ],
    "on_failure": [],
    "budget": {"main_s": 915.0, "on_failure_s": 0.0, "total_s": 915.0, "gates_s": 0},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(v=2), "$.v: 1 was expected"),
        (lambda d: d["budget"].pop("gates_s"), "$.budget: 'gates_s' is a required property"),
        (
            lambda d: d.update(digest="sha256:" + "A" * 64),
            "$.digest: 'sha256:" + "A" * 64 + "' does not match '^sha256:[0-9a-f]{64}$'",
        ),
        (
            lambda d: d["phases"][0]["steps"][0].update(
                gate={"signal": "go", "timeout": "1h", "timeout_s": 3600, "description": ""}
            ),
            "$.phases[0].steps[0].profile: "
            + repr(HELLO_IR["phases"][0]["steps"][0]["profile"])
            + " is not of type 'null'",
        ),
        (
            lambda d: d["phases"][0]["steps"][0].update(budget=None),
            "$.phases[0].steps[0].budget: None is not of type 'object'",
        ),
        (
            lambda d: d["phases"][0].update(when={"if": "x", "condition": {"$param": "x"}}),
            "$.phases[0].when: {'if': 'x', 'condition': {'$param': 'x'}} is not valid under "
            "any of the given schemas",
        ),
    ],
)
def test_the_plan_schema_refuses_what_chant_never_writes(change: Change, expected: str) -> None:
    assert refused("plan", PLAN, change) == expected


# -- the guide's script ---------------------------------------------------------------------


def _guide_script() -> str:
    """The validation script docs/how-to/schemas.md shows, as written there."""
    page = (ROOT / "docs" / "how-to" / "schemas.md").read_text(encoding="utf-8")
    start = page.index('```python\n"""python check_chant.py') + len("```python\n")
    return page[start : page.index("```\n", start)]


def test_the_guides_script_checks_results_and_events_as_it_shows(tmp_path: Path) -> None:
    root = copy_project(PARITY, tmp_path)
    script = root / "check_chant.py"
    script.write_text(_guide_script(), encoding="utf-8")

    def check(kind: str, *paths: str) -> tuple[int, str]:
        ran = subprocess.run(
            [sys.executable, str(script), kind, *paths],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.stderr == ""
        return ran.returncode, ran.stdout

    (root / "run.json").write_text(run_parity_op(root, "happy", "--json").stdout)
    (root / "events.jsonl").write_text(run_parity_op(root, "happy", "--progress-json").stdout)
    assert check("result", "run.json") == (0, "")
    assert check("events", "events.jsonl") == (0, "")
    doc = json.loads((root / "run.json").read_text())
    doc["steps"][0]["status"] = "running"
    (root / "run.json").write_text(json.dumps(doc))
    assert check("result", "run.json") == (
        1,
        "run.json: $.steps[0].status: 'running' is not one of "
        "['ok', 'failed', 'skipped', 'cancelled']\n",
    )
    lines = (root / "events.jsonl").read_text().splitlines()
    (root / "events.jsonl").write_text("\n".join([*lines[:2], '{"v": 1}', *lines[2:]]) + "\n")
    code, out = check("events", "events.jsonl")
    assert (code, out.splitlines()[0]) == (1, "events.jsonl:3: $: 'type' is a required property")
