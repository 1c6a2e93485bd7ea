"""Choosing local or Temporal for `chant run`, and what local mode refuses to run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Chant, MakeProject

HELLO = """
from chant import Op, Outcome, phase, shell

hello = Op(
    name="hello",
    phases=[phase("Greet", [shell("echo hi >> ran.log", outcome=Outcome("Said", "exit_code"))])],
)
"""
TEMPORAL = '[temporal]\ndefault_profile = "dev"\n[temporal.profiles.dev]\naddress = "127.0.0.1:1"\n'
LOCAL_NOTE = 'running "hello" locally (in-process: no gates, schedules or resume)'


def runs(root: Path) -> int:
    """How many times the hello step ran in ``root``."""
    log = root / "ran.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


# --- the notice ----------------------------------------------------------------------


def test_without_chant_toml_it_runs_locally_and_says_why(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/hello.op.py": HELLO})
    ran = chant("run", "hello", cwd=root)
    assert (ran.code, ran.err) == (0, f"chant: no chant.toml — {LOCAL_NOTE}\n")
    assert runs(root) == 1


def test_with_chant_toml_but_no_temporal_table_it_runs_locally_and_says_why(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": '[project]\nops = ["ops"]\n', "ops/hello.op.py": HELLO})
    ran = chant("run", "hello", cwd=root)
    assert (ran.code, ran.err) == (0, f"chant: no [temporal] in chant.toml — {LOCAL_NOTE}\n")
    assert runs(root) == 1


def test_the_notice_goes_to_stderr_and_never_into_the_output(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/hello.op.py": HELLO})
    ran = chant("run", "hello", cwd=root)
    assert "locally" not in ran.out
    assert 'Op "hello" completed' in ran.out


def test_the_notice_leaves_json_stdout_a_single_document(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/hello.op.py": HELLO})
    ran = chant("run", "hello", "--json", cwd=root)
    assert ran.code == 0
    assert json.loads(ran.out)["op"] == "hello"
    assert ran.err.startswith(f"chant: no chant.toml — {LOCAL_NOTE}\n")


def test_local_flag_runs_locally_without_a_notice(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"ops/hello.op.py": HELLO})
    ran = chant("run", "hello", "--local", cwd=root)
    assert (ran.code, ran.err) == (0, "")
    assert runs(root) == 1


def test_local_flag_overrides_a_temporal_table(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"chant.toml": TEMPORAL, "ops/hello.op.py": HELLO})
    ran = chant("run", "hello", "--local", cwd=root)
    assert (ran.code, ran.err) == (0, "")
    assert runs(root) == 1


# --- Temporal ------------------------------------------------------------------------
# Nothing listens on port 1: choosing Temporal reaches for it and exits 3 with the fix.
# (Subprocesses: temporalio stays out of the test process.)

UNREACHABLE = (
    "chant: error: cannot reach Temporal at 127.0.0.1:1 (profile {profile}): connection refused\n"
)
FIX = (
    "  hint: start one with `chant server start`, set auto_start = true in "
    "[temporal.profiles.{profile}], or run with --local\n"
)


def test_a_temporal_table_chooses_temporal_and_an_unreachable_cluster_exits_3(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = make_project({"chant.toml": TEMPORAL, "ops/hello.op.py": HELLO})
    ran = chant_proc("run", "hello", cwd=root)
    assert ran.code == 3
    lines = ran.err.splitlines(keepends=True)
    assert lines[0] == 'chant: [temporal] found in chant.toml — running "hello" on Temporal\n'
    assert lines[1] == UNREACHABLE.format(profile="dev")
    assert lines[2:] == [FIX.format(profile="dev")]
    assert runs(root) == 0


def test_an_unknown_profile_is_a_usage_error(make_project: MakeProject, chant_proc: Chant) -> None:
    root = make_project({"chant.toml": TEMPORAL, "ops/hello.op.py": HELLO})
    ran = chant_proc("run", "hello", "--profile", "prod", cwd=root)
    assert (ran.code, ran.err) == (
        2,
        "chant: error: --profile prod: no [temporal.profiles.prod] in chant.toml; profiles: dev\n",
    )
    assert runs(root) == 0


# --- what local mode refuses ----------------------------------------------------------

GATED = """
from chant import Op, gate, phase, shell

release = Op(
    name="release",
    phases=[
        phase("Build", [shell("touch ran.marker")]),
        phase("Approve", [gate("approve-prod", timeout="72h")]),
        phase("Ship", [shell("touch ran.marker")]),
    ],
)
"""


def test_a_gate_is_rejected_locally_naming_it_its_phase_and_temporal(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/release.op.py": GATED})
    ran = chant("run", "release", cwd=root)
    assert ran.code == 2
    assert ran.err == (
        'chant: error: op "release" has gate "approve-prod" in phase "Approve": gates wait for '
        "a human signal and need Temporal; local mode cannot run them\n"
        "  hint: run it on Temporal: chant run release --temporal\n"
    )
    assert not (root / "ran.marker").exists()


def test_a_gate_in_on_failure_is_rejected_locally_before_anything_runs(
    make_project: MakeProject, chant: Chant
) -> None:
    source = """
    from chant import Op, gate, phase, shell

    risky = Op(
        name="risky",
        phases=[phase("Work", [shell("touch ran.marker")])],
        on_failure=[phase("Confirm undo", [gate("undo-ok")])],
    )
    """
    root = make_project({"ops/risky.op.py": source})
    ran = chant("run", "risky", "--local", cwd=root)
    assert ran.code == 2
    assert 'gate "undo-ok" in phase "Confirm undo"' in ran.err
    assert "chant run risky --temporal" in ran.err
    assert not (root / "ran.marker").exists()


def test_a_scheduled_op_runs_once_locally_with_a_note(
    make_project: MakeProject, chant: Chant
) -> None:
    source = """
    from chant import Op, phase, shell

    nightly = Op(
        name="nightly",
        schedule="0 3 * * *",
        phases=[phase("Check", [shell("echo hi >> ran.log")])],
    )
    """
    root = make_project({"ops/nightly.op.py": source})
    ran = chant("run", "nightly", "--local", cwd=root)
    assert ran.code == 0
    assert ran.err == (
        'chant: op "nightly" has schedule "0 3 * * *", which applies only on Temporal '
        "— running it once now\n"
    )
    assert runs(root) == 1


def test_a_missing_secret_is_named_and_nothing_runs(
    make_project: MakeProject, chant: Chant
) -> None:
    source = """
    from chant import Op, phase, secret, shell

    push = Op(
        name="push",
        phases=[
            phase("Prepare", [shell("touch ran.marker")]),
            phase("Push", [shell("push", env={"TOKEN": secret("CHANT_TEST_TOKEN_UNSET")})]),
        ],
    )
    """
    root = make_project({"ops/push.op.py": source})
    ran = chant("run", "push", "--local", cwd=root)
    assert ran.code == 2
    assert ran.err == (
        'chant: error: op "push" needs secret(s) not set (or empty) in the environment: '
        "CHANT_TEST_TOKEN_UNSET\n"
        "  hint: export CHANT_TEST_TOKEN_UNSET=… before running (the value is masked as *** in "
        "all output)\n"
    )
    assert not (root / "ran.marker").exists()


# --- where steps run --------------------------------------------------------------------


def test_run_from_a_subfolder_finds_the_project_and_runs_steps_at_its_root(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": "", "ops/hello.op.py": HELLO, "ops/deep/keep.txt": ""})
    ran = chant("run", "hello", "--local", cwd=root / "ops" / "deep")
    assert ran.code == 0
    assert runs(root) == 1
    assert not (root / "ops" / "deep" / "ran.log").exists()
