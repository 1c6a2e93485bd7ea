"""``chant plan NAME [KEY=VALUE …]`` and ``chant run NAME --dry-run``: the resolved plan of
a run, its worst-case time budget and its digest, without running anything; bad values
and definitions are ``chant run``'s exit-2 errors; a run shows the digest of its plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import Chant, MakeProject

EXAMPLES = Path(__file__).parents[2] / "examples"

OPS = """
from chant import Op, Param, Profile, Retry, gate, out, param, phase, secret, shell

ONE = Profile(timeout="10s", retry=Retry(max_attempts=1))
CAPPED = Profile(
    timeout="1m",
    retry=Retry(max_attempts=5, initial_interval="10s", backoff_coefficient=3.0,
                maximum_interval="30s"),
)
FOREVER = Profile(timeout="2s", retry=Retry(max_attempts=0))

wide = Op(
    name="wide",
    overview="Every kind of step",
    params={
        "env": Param(str, default="staging", choices=["staging", "prod"]),
        "n": Param(int, default=3),
    },
    phases=[
        phase("Fan", [shell(f"echo {i}", id=f"f{i}", profile=ONE) for i in range(5)],
              parallel=True, max_concurrency=2),
        phase("Capped", [shell("make it\\nso", id="capped", profile=CAPPED,
                                env={"TOKEN": secret("TOKEN")})]),
        phase("Prod only",
              [shell(f"deploy {param('env')} {out('capped', 'stdout')}", id="deploy",
                     profile=ONE)],
              when=param("env") == "prod"),
        phase("Approve", [gate("ship", timeout="2h", description="Ship it?")]),
        phase("Mixed", [
            shell("a", id="a", profile=ONE,
                  when=(param("n") > 2) & (out("capped", "exit_code") == 0)),
            shell("b", id="b", profile=ONE,
                  when=(param("n") > 5) & (out("capped", "exit_code") == 0)),
            shell("c", id="c", profile=ONE,
                  when=(param("n") > 5) | (out("capped", "exit_code") == 0)),
        ]),
    ],
    on_failure=[
        phase("Undo", [shell("undo", id="undo", profile=ONE)]),
        phase("Tell", [shell("tell", id="tell", profile=FOREVER)]),
    ],
)

touchy = Op(
    name="touchy",
    params={"tag": Param(str, default="v1")},
    phases=[
        phase("Touch", [shell(f"touch touched-{param('tag')}", id="touch")]),
        phase("Write", [shell("echo hi > written.txt", id="write")], parallel=True),
    ],
    on_failure=[phase("Undo", [shell("touch undone", id="undo")])],
)
"""

WIDE_TEXT = """\
Plan of "wide": Every kind of step
digest    {digest}
params    env="staging", n=3
secrets   TOKEN (names only; read when it runs)

Phase 1 of 5: Fan — parallel, at most 2 at once, each step runs to its end · up to 30s
  f0  shell  echo 0
      profile (inline): 1 attempt × 10s timeout = up to 10s
  f1  shell  echo 1
      profile (inline): 1 attempt × 10s timeout = up to 10s
  f2  shell  echo 2
      profile (inline): 1 attempt × 10s timeout = up to 10s
  f3  shell  echo 3
      profile (inline): 1 attempt × 10s timeout = up to 10s
  f4  shell  echo 4
      profile (inline): 1 attempt × 10s timeout = up to 10s

Phase 2 of 5: Capped — sequential · up to 6m40s
  capped  shell  make it
                 so
      env={{"TOKEN": secret("TOKEN")}}
      profile (inline): 5 attempts × 1m timeout + 1m40s of backoff = up to 6m40s

Phase 3 of 5: Prod only — sequential · skipped
  skipped: condition false: env == "prod" (env is "staging")
  deploy  shell  deploy staging {{out("capped", "stdout")}}
      profile (inline): 1 attempt × 10s timeout = up to 10s

Phase 4 of 5: Approve — sequential · its gate waits up to 2h
  approve.1  gate  waits for signal "ship" up to 2h
      Ship it?

Phase 5 of 5: Mixed — sequential · up to 20s
  a  shell  a
      profile (inline): 1 attempt × 10s timeout = up to 10s
      if (n > 2) & (capped.exit_code == 0): decided when it runs
  b  shell  b
      profile (inline): 1 attempt × 10s timeout = up to 10s
      skipped: condition false: (n > 5) & (capped.exit_code == 0) (n is 3)
  c  shell  c
      profile (inline): 1 attempt × 10s timeout = up to 10s
      if (n > 5) | (capped.exit_code == 0): decided when it runs

On failure (a step failed or the run was interrupted), in this order:

Phase Undo — sequential · up to 10s
  undo  shell  undo
      profile (inline): 1 attempt × 10s timeout = up to 10s

Phase Tell — sequential · no limit
  tell  shell  tell
      profile (inline): unlimited attempts × 2s timeout = no limit

Time budget (worst case: every attempt runs to its timeout, every retry waits in full)
  main phases  up to 7m30s
  on_failure   no limit
  in all       no limit (a step retries without end) before it gives up
  gates        may wait up to 2h more for their signals
"""


@pytest.fixture
def root(make_project: MakeProject) -> Path:
    return make_project({"chant.toml": '[project]\nops = ["ops"]\n', "ops/wide.op.py": OPS})


def _plan(chant: Chant, root: Path, *args: str) -> dict[str, Any]:
    ran = chant("plan", *args, "--json", cwd=root)
    assert (ran.code, ran.err) == (0, ""), ran.err
    doc: dict[str, Any] = json.loads(ran.out)
    return doc


def test_the_plan_shows_every_phase_step_profile_condition_gate_and_the_budget(
    chant: Chant, root: Path
) -> None:
    digest = _plan(chant, root, "wide")["digest"]
    ran = chant("plan", "wide", cwd=root)
    assert (ran.code, ran.err) == (0, "")
    assert ran.out == WIDE_TEXT.format(digest=digest)


def test_the_json_plan_has_the_documented_shape_and_numbers(chant: Chant, root: Path) -> None:
    doc = _plan(chant, root, "wide")
    assert list(doc) == [
        "v", "op", "overview", "digest", "params", "secrets", "schedule", "phases",
        "on_failure", "budget",
    ]  # fmt: skip
    assert (doc["v"], doc["op"], doc["params"], doc["secrets"]) == (
        1,
        "wide",
        {"env": "staging", "n": 3},
        ["TOKEN"],
    )
    assert doc["budget"] == {
        "main_s": 450.0,
        "on_failure_s": None,
        "total_s": None,
        "gates_s": 7200.0,
    }
    phases = {p["name"]: p for p in doc["phases"]}
    assert [p["budget_s"] for p in doc["phases"]] == [30.0, 400.0, 0.0, 0.0, 20.0]
    fan = phases["Fan"]
    assert (fan["parallel"], fan["max_concurrency"], fan["fail_fast"]) == (True, 2, False)
    (capped,) = phases["Capped"]["steps"]
    assert capped["budget"] == {
        "attempts": 5,
        "timeout_s": 60.0,
        "waits_s": 100.0,
        "worst_s": 400.0,
    }
    assert capped["args"] == {"cmd": "make it\nso", "env": {"TOKEN": {"$secret": "TOKEN"}}}
    assert capped["profile"]["retry"]["maximum_interval"] == "30s"
    (deploy,) = phases["Prod only"]["steps"]
    assert deploy["args"] == {
        "cmd": {"$format": ["deploy staging ", {"$out": "capped", "path": "stdout"}]}
    }
    assert phases["Prod only"]["when"] == {
        "if": 'env == "prod"',
        "condition": {"$cmp": "==", "left": {"$param": "env"}, "right": "prod"},
        "holds": False,
        "reason": 'condition false: env == "prod" (env is "staging")',
    }
    (approve,) = phases["Approve"]["steps"]
    assert (approve["fn"], approve["profile"], approve["budget"]) == ("gate", None, None)
    assert approve["gate"] == {
        "signal": "ship",
        "timeout": "2h",
        "timeout_s": 7200.0,
        "description": "Ship it?",
    }
    holds = [s["when"]["holds"] for s in phases["Mixed"]["steps"]]
    assert holds == [None, False, None]
    assert [p["name"] for p in doc["on_failure"]] == ["Undo", "Tell"]
    assert all(p["compensation"] for p in doc["on_failure"])
    assert doc["on_failure"][1]["steps"][0]["budget"]["worst_s"] is None


def test_parameter_values_change_the_plan_and_its_digest(chant: Chant, root: Path) -> None:
    staging = _plan(chant, root, "wide")
    prod = _plan(chant, root, "wide", "env=prod", "n=9")
    assert staging["digest"] != prod["digest"]
    phases = {p["name"]: p for p in prod["phases"]}
    assert phases["Prod only"]["when"]["holds"] is True
    assert phases["Prod only"]["steps"][0]["args"]["cmd"]["$format"][0] == "deploy prod "
    assert [s["when"]["holds"] for s in phases["Mixed"]["steps"]] == [None, None, True]
    assert prod["budget"]["main_s"] == 470.0  # Prod only's 10s and b's 10s now count
    # The same values, however given, are the same plan.
    (root / "values.json").write_text('{"n": 9, "env": "staging"}', encoding="utf-8")
    given = _plan(chant, root, "wide", "--params-file", "values.json", "env=prod")
    assert given == prod
    assert _plan(chant, root, "wide", "n=9", "env=prod") == prod


def test_no_retry_plans_a_single_attempt_and_the_run_shows_that_digest(
    chant: Chant, root: Path
) -> None:
    planned = _plan(chant, root, "touchy", "--no-retry")
    assert {s["budget"]["attempts"] for p in planned["phases"] for s in p["steps"]} == {1}
    assert planned["digest"] != _plan(chant, root, "touchy")["digest"]
    ran = chant("run", "touchy", "--local", "--no-retry", "--json", cwd=root)
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["plan_digest"] == planned["digest"]


def test_a_run_shows_the_digest_of_its_plan_first_and_in_its_result(
    chant: Chant, root: Path
) -> None:
    planned = _plan(chant, root, "touchy", "tag=v2")
    events = chant("run", "touchy", "tag=v2", "--local", "--progress-json", cwd=root)
    assert events.code == 0, events.err
    first = json.loads(events.out.splitlines()[0])
    assert (first["type"], first["plan_digest"]) == ("run_started", planned["digest"])
    result = chant("run", "touchy", "tag=v2", "--local", "--json", cwd=root)
    assert json.loads(result.out)["plan_digest"] == planned["digest"]
    assert planned["digest"].startswith("sha256:") and len(planned["digest"]) == 71


def test_plan_and_dry_run_run_nothing_and_print_the_same_bytes(
    chant_proc: Chant, root: Path
) -> None:
    outputs = []
    for argv in (
        ["plan", "touchy"],
        ["plan", "touchy"],
        ["run", "touchy", "--dry-run"],
        ["run", "touchy", "--dry-run", "--local"],
    ):
        ran = chant_proc(*argv, cwd=root)
        assert (ran.code, ran.err) == (0, ""), ran.err
        outputs.append(ran.out)
    assert len(set(outputs)) == 1
    for shape in ("--json", "--mermaid", "--dot"):
        planned = chant_proc("plan", "touchy", shape, cwd=root)
        dry = chant_proc("run", "touchy", "--dry-run", shape, "--temporal", cwd=root)
        assert (dry.code, dry.err) == (0, ""), dry.err
        assert (planned.code, dry.out) == (0, planned.out), shape
        assert planned.out not in outputs
    assert sorted(p.name for p in root.iterdir()) == ["chant.toml", "ops"]  # nothing ran


@pytest.mark.parametrize("shape", ["--mermaid", "--dot"])
def test_a_drawing_of_a_run_needs_dry_run(chant: Chant, root: Path, shape: str) -> None:
    ran = chant("run", "touchy", shape, cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f"chant: error: {shape} prints a plan, so it needs --dry-run\n"
        f"  hint: add --dry-run, or run `chant plan touchy {shape}`\n"
    )
    assert sorted(p.name for p in root.iterdir()) == ["chant.toml", "ops"]  # nothing ran


def test_a_plan_needs_no_secret_and_never_shows_one(
    chant: Chant, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKEN", raising=False)
    ran = chant("plan", "wide", cwd=root)
    assert ran.code == 0, ran.err
    monkeypatch.setenv("TOKEN", "s3cr3t-value")
    for argv in (["plan", "wide"], ["plan", "wide", "--json"], ["plan", "wide", "--mermaid"]):
        shown = chant(*argv, cwd=root)
        assert shown.code == 0 and "s3cr3t" not in shown.out + shown.err


@pytest.mark.parametrize(
    "args",
    [
        ["wide", "env=dev"],
        ["wide", "n=many"],
        ["wide", "nope=1"],
        ["wide", "justaword"],
        ["wide", "--params-file", "missing.json"],
        ["wdie"],
        ["touchy", "tag="],
    ],
    ids=["choice", "type", "unknown", "not-key-value", "missing-file", "unknown-op", "empty"],
)
def test_bad_values_are_the_same_exit_2_errors_as_chant_run(
    chant: Chant, root: Path, args: list[str]
) -> None:
    ran = chant("run", *args, "--local", cwd=root)
    planned = chant("plan", *args, cwd=root)
    dry = chant("run", *args, "--dry-run", cwd=root)
    if args == ["touchy", "tag="]:  # an empty string is a value
        assert ran.code == planned.code == dry.code == 0
        return
    assert ran.code == planned.code == dry.code == 2
    assert planned.err == ran.err == dry.err
    assert planned.out == dry.out == ""
    assert "chant: error:" in planned.err and "Traceback" not in planned.err


def test_a_broken_op_is_the_same_exit_2_error_as_chant_run(
    chant: Chant, make_project: MakeProject
) -> None:
    root = make_project(
        {
            "chant.toml": '[project]\nops = ["ops"]\n',
            "ops/bad.op.py": (
                "from chant import Op, phase, shell, out\n"
                'bad = Op(name="bad", phases=[phase("P", [shell(f"echo {out(\'nope\')}")])])\n'
            ),
        }
    )
    ran = chant("run", "bad", "--local", cwd=root)
    planned = chant("plan", "bad", cwd=root)
    assert (planned.code, planned.out, planned.err) == (2, "", ran.err)
    assert "ops/bad.op.py:2" in planned.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "touchy", "--dry-run", "--progress-json"], "--progress-json"),
        (["run", "touchy", "--dry-run", "--junit", "r.xml"], "--junit"),
        (["run", "touchy", "--dry-run", "--no-worker"], "--no-worker"),
    ],
)
def test_dry_run_refuses_flags_of_a_run_that_runs(
    chant: Chant, root: Path, argv: list[str], message: str
) -> None:
    ran = chant(*argv, cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f"chant: error: --dry-run runs nothing, so {message} has nothing to do\n"
        f"  hint: drop {message}, or drop --dry-run to run the Op\n"
    )
    assert not (root / "r.xml").exists()


def test_plan_formats_are_exclusive(chant_proc: Chant, root: Path) -> None:
    for command in (["plan"], ["run", "--dry-run"], ["run"]):
        ran = chant_proc(*command, "wide", "--json", "--dot", cwd=root)
        assert (ran.code, ran.out) == (2, "")
        assert ran.err.endswith(": error: argument --dot: not allowed with argument --json\n")
        ran = chant_proc(*command, "wide", "--mermaid", "--dot", cwd=root)
        assert ran.err.endswith(": error: argument --dot: not allowed with argument --mermaid\n")


def test_user_text_in_a_plan_cannot_act_on_the_terminal(
    chant: Chant, make_project: MakeProject
) -> None:
    root = make_project(
        {
            "chant.toml": '[project]\nops = ["ops"]\n',
            "ops/esc.op.py": (
                "from chant import Op, phase, shell\n"
                'esc = Op(name="esc", overview="o\\x1b[31m", '
                'phases=[phase("P", [shell("printf \'\\x1b]0;x\\x07\'")])])\n'
            ),
        }
    )
    for fmt in ([], ["--json"]):
        ran = chant("plan", "esc", *fmt, cwd=root)
        assert ran.code == 0, ran.err
        assert "\x1b" not in ran.out and "\x07" not in ran.out


@pytest.mark.parametrize(
    ("example", "op", "values"),
    [
        ("quickstart", "hello", []),
        ("quickstart", "rollout", []),
        ("passing-data", "release", ["version=1.2"]),
        ("passing-data", "release", ["version=1.2", "env=prod"]),
    ],
)
def test_the_examples_plan_and_their_runs_match_the_digest(
    chant: Chant, tmp_path: Path, example: str, op: str, values: list[str]
) -> None:
    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root)
    planned = _plan(chant, root, op, *values)
    ran = chant("run", op, *values, "--local", "--json", cwd=root)
    assert json.loads(ran.out)["plan_digest"] == planned["digest"]
