"""One broken op file does not block the others: ``chant run X`` needs only X valid.

Problems elsewhere print as ``chant: warning: …`` on stderr with a one-line summary, and
X runs; ``chant build`` and ``chant list`` still report every problem (exit 2). In both
modes; a standalone ``chant worker`` serves the valid Ops and warns.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from conftest import Chant, MakeProject
from temporal_procs import Chant as LongChant
from temporal_server import TemporalServer

GOOD = """
from chant import Op, phase, shell

good = Op(name="{name}", phases=[phase("Go", [shell("touch ran.marker")])])
"""
# Line 3 opens a bracket that never closes: the file cannot be imported.
BROKEN = "from chant import Op, phase, shell\n\nlost = Op(name='lost', phases=[\n"
SYNTAX = (
    "ops/broken.op.py:3: SyntaxError: '[' was never closed\n"
    "  hint: fix the syntax; chant imports every *.op.py\n"
)
BAD_PROFILE = """
from chant import Op, phase, shell

typo = Op(name="typo", phases=[phase("Go", [shell("touch typo.marker", profile="quik")])])
"""
TYPO = (
    'ops/typo.op.py:3: op "typo": step "go.1": unknown profile \'quik\'\n'
    "  hint: known: fast_idempotent, human_gate, k8s_wait, long_infra, policy_check "
    "(profiles come from the built-ins and [profiles.*] in chant.toml)\n"
)


def project(make_project: MakeProject, name: str = "good", toml: str = "") -> Path:
    files = {
        "ops/good.op.py": GOOD.format(name=name),
        "ops/broken.op.py": BROKEN,
        "ops/typo.op.py": BAD_PROFILE,
    }
    return make_project({**files, "chant.toml": toml} if toml else files)


def warnings(name: str) -> str:
    return (
        f"chant: warning: {SYNTAX}chant: warning: {TYPO}"
        f'chant: warning: 2 problems elsewhere in the project (above); running "{name}" '
        "anyway (`chant build` checks every Op)\n"
    )


def test_a_valid_op_runs_and_the_broken_files_are_warnings(
    make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project)
    ran = chant("run", "good", cwd=root)
    assert ran.code == 0, ran.err
    assert ran.err == warnings("good") + (
        'chant: no chant.toml — running "good" locally (in-process: no gates, schedules or '
        "resume)\n"
    )
    assert (root / "ran.marker").exists()
    assert 'Op "good" completed' in ran.out


def test_the_run_exits_with_the_ops_own_result(make_project: MakeProject, chant: Chant) -> None:
    root = make_project(
        {
            "ops/broken.op.py": BROKEN,
            "ops/fails.op.py": "from chant import Op, Profile, Retry, phase, shell\n"
            'fails = Op(name="fails", phases=[phase("Go", [shell("exit 4", '
            "profile=Profile(retry=Retry(max_attempts=1)))])])\n",
        }
    )
    ran = chant("run", "fails", cwd=root)
    assert ran.code == 1
    assert ran.err.startswith(f"chant: warning: {SYNTAX}")


@pytest.mark.parametrize("command", [["build"], ["list"], ["list", "--json"]])
def test_build_and_list_still_report_every_problem(
    command: list[str], make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project)
    ran = chant(*command, cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == f"chant: error: 2 problems in the project:\n{SYNTAX}{TYPO}"
    assert not (root / "dist").exists()


def test_json_output_keeps_its_shape_and_warnings_stay_on_stderr(
    make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project)
    ran = chant("run", "good", "--json", cwd=root)
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)  # stdout is exactly one JSON document
    assert (result["op"], result["ok"]) == ("good", True)
    assert "warning" not in ran.out
    assert ran.err.startswith(warnings("good"))


def test_progress_json_keeps_stdout_json_lines(make_project: MakeProject, chant: Chant) -> None:
    root = project(make_project)
    ran = chant("run", "good", "--progress-json", cwd=root)
    assert ran.code == 0, ran.err
    assert [json.loads(line)["type"] for line in ran.out.splitlines()][-1] == "run_finished"
    assert ran.err.startswith(warnings("good"))


def test_an_invalid_op_asked_for_is_an_error_and_the_others_are_warnings(
    make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project)
    ran = chant("run", "typo", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (f"chant: warning: {SYNTAX}chant: error: 1 problem in the project:\n{TYPO}")
    assert not (root / "typo.marker").exists()


def test_an_op_that_may_be_in_a_file_that_failed_to_import_names_that_file(
    make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project)
    ran = chant("run", "lost", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f"chant: warning: {TYPO}"
        'chant: error: no Op named "lost"; available: good, typo; it may be defined at '
        f"ops/broken.op.py, where chant could not load an Op:\n{SYNTAX}"
        "  hint: fix the problems above and run again (`chant build` lists every problem)\n"
    )


def test_an_unknown_op_still_gets_did_you_mean_when_a_file_is_broken(
    make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project)
    ran = chant("run", "godo", cwd=root)
    assert ran.code == 2
    assert ran.err.endswith(f'{SYNTAX}  hint: did you mean "good"?\n')


def test_an_op_with_a_duplicate_name_is_not_run(make_project: MakeProject, chant: Chant) -> None:
    root = make_project(
        {
            "ops/a.op.py": GOOD.format(name="good"),
            "ops/b.op.py": GOOD.format(name="good"),
            "ops/other.op.py": GOOD.format(name="other"),
        }
    )
    ran = chant("run", "good", cwd=root)
    assert ran.code == 2
    assert 'duplicate Op name "good"' in ran.err
    assert "warning" not in ran.err
    assert not (root / "ran.marker").exists()
    # The duplicate is a warning for another Op.
    other = chant("run", "other", cwd=root)
    assert other.code == 0, other.err
    assert other.err.startswith('chant: warning: duplicate Op name "good"')


# --- on Temporal ----------------------------------------------------------------------


def test_on_temporal_a_valid_op_runs_despite_a_broken_file(
    make_project: MakeProject, chant_proc: Chant, temporal_server: TemporalServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"good-{tag}"
    root = project(make_project, name, toml=temporal_server.toml(f"partial-{tag}"))
    ran = chant_proc("run", name, "--temporal", cwd=root)
    assert ran.code == 0, ran.err
    assert ran.err.startswith(warnings(name))
    assert (root / "ran.marker").exists()
    assert f'Op "{name}" completed' in ran.out


def test_a_standalone_worker_serves_the_valid_ops_and_warns(
    make_project: MakeProject, chant_proc: Chant, temporal_server: TemporalServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"good-{tag}"
    root = project(make_project, name, toml=temporal_server.toml(f"partial-w-{tag}"))
    worker = LongChant("worker", cwd=root, name="worker")
    try:
        worker.wait_stderr("polling task queue")
        err = worker.stderr()
        assert err.startswith(
            f"chant: warning: {SYNTAX}chant: warning: {TYPO}"
            "chant: warning: 2 problems in the project (above); this worker serves only its "
            f"valid Ops: {name}\n"
        )
        assert f"Ops: {name}; Ctrl-C stops it" in err
        ran = chant_proc("run", name, "--temporal", "--no-worker", cwd=root)
        assert ran.code == 0, ran.err
        assert (root / "ran.marker").exists()
    finally:
        worker.stop()
