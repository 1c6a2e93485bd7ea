"""What a command line is expected to do: ``-V``, help for a bare ``chant``, "did you
mean" for mistyped commands and options, and ``run --json`` carrying an ``outcomes`` map
as ``status --json`` does, in both modes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from chant import __version__
from conftest import Chant, MakeProject, chant_subprocess

USAGE = "usage: chant [-h] [-V] [--debug] COMMAND ...\n"
RAW = {"exit_code": 0, "stdout": "drift", "stderr": ""}  # no `from`: the whole result

OPS = """
from chant import Op, Outcome, phase, secret, shell

report = Op(name="report", phases=[
    phase("Look", [
        shell("echo 3", outcome=Outcome("Count", "stdout")),
        shell("echo drift", outcome="Raw"),
        shell('echo "key=$K"', env={"K": secret("KEY")}, outcome=Outcome("Seen", "stdout")),
    ]),
])
broken = Op(name="broken", phases=[
    phase("Look", [
        shell("echo before", outcome=Outcome("First", "stdout")),
        shell("exit 4", profile="policy_check"),
    ]),
])
quiet = Op(name="quiet", phases=[phase("P", [shell("true")])])
"""


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    return make_project({"ops/r.op.py": OPS})


def test_dash_capital_v_prints_the_version_as_version_does(tmp_path: Path, chant: Chant) -> None:
    short, long = chant("-V", cwd=tmp_path), chant("--version", cwd=tmp_path)
    assert (short.code, short.out, short.err) == (0, f"chant {__version__}\n", "")
    assert (long.code, long.out) == (0, short.out)


def test_a_bare_chant_prints_the_help_on_stdout_and_exits_0(tmp_path: Path) -> None:
    ran = chant_subprocess(cwd=tmp_path)
    assert ran.code == 0
    assert ran.err == ""
    assert ran.out.startswith(USAGE + "\nchant: named, phased Ops")
    assert "\n    run          run an Op\n" in ran.out
    assert "\n    completion   print the shell completion script" in ran.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rnu", "hello"], 'chant: error: unknown command "rnu"; did you mean "run"?'),
        (["lsit"], 'chant: error: unknown command "lsit"; did you mean "list"?'),
        (["statsu", "x"], 'chant: error: unknown command "statsu"; did you mean "status"?'),
        (
            ["frobnicate"],
            'chant: error: unknown command "frobnicate"; choose from init, build, list, '
            "activities, plan, run, signal, status, history, cancel, schedule, server, worker, "
            "schema, completion",
        ),
    ],
    ids=["rnu", "lsit", "statsu", "no-match"],
)
def test_a_mistyped_command_gets_a_suggestion(
    tmp_path: Path, chant: Chant, argv: list[str], message: str
) -> None:
    ran = chant(*argv, cwd=tmp_path)
    assert (ran.code, ran.out, ran.err) == (2, "", USAGE + message + "\n")


def test_a_mistyped_action_gets_a_suggestion(tmp_path: Path, chant: Chant) -> None:
    ran = chant("server", "stpo", cwd=tmp_path)
    assert ran.code == 2
    assert ran.err.endswith('chant server: error: unknown action "stpo"; did you mean "stop"?\n')


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "hello", "--jsno"], "unrecognized arguments: --jsno; did you mean --json?"),
        (["run", "hello", "--loc"], "unrecognized arguments: --loc; did you mean --local?"),
        (["list", "--jsn"], "unrecognized arguments: --jsn; did you mean --json?"),
        (
            ["history", "x", "--limt=3"],
            "unrecognized arguments: --limt=3; did you mean --limit?",
        ),
        # Only options of the command given: `build` has no --json to suggest.
        (["build", "--jsno"], "unrecognized arguments: --jsno"),
        (["run", "hello", "--xyzzy"], "unrecognized arguments: --xyzzy"),
        # (A word after `chant run NAME` is a parameter: tests/cli/test_run_params.py.)
        (["list", "extra"], "unrecognized arguments: extra"),
    ],
    ids=["jsno", "loc", "list-jsn", "limt-with-value", "other-command", "no-match", "word"],
)
def test_a_mistyped_option_gets_the_closest_option_of_its_command(
    tmp_path: Path, chant: Chant, argv: list[str], message: str
) -> None:
    ran = chant(*argv, cwd=tmp_path)
    # Reported by the command given, with its usage (as git does), not chant's.
    command = f"chant {argv[0]}"
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.startswith(f"usage: {command} [-h]"), ran.err
    assert ran.err.endswith(f"\n{command}: error: {message}\n"), ran.err


@pytest.mark.parametrize(
    ("argv", "err"),
    [
        (
            ["server", "start", "--prot", "1"],
            "usage: chant server start [-h] [--profile P] [--debug]\n"
            "chant server start: error: unrecognized arguments: --prot 1; did you mean "
            "--profile?\n",
        ),
        (
            ["--verison"],
            f"{USAGE}chant: error: unrecognized arguments: --verison; did you mean --version?\n",
        ),
        (
            ["completion", "bsh"],
            "usage: chant completion [-h] SHELL\nchant completion: error: argument SHELL: "
            'unknown value "bsh"; did you mean "bash" or "zsh"?\n',
        ),
        (
            ["completion", "pwsh"],
            "usage: chant completion [-h] SHELL\nchant completion: error: argument SHELL: "
            'unknown value "pwsh"; choose from bash, zsh, fish\n',
        ),
    ],
    ids=["action-option", "top-option", "choice", "choice-no-match"],
)
def test_a_mistyped_action_option_or_choice_is_reported_by_its_own_command(
    tmp_path: Path, chant: Chant, argv: list[str], err: str
) -> None:
    ran = chant(*argv, cwd=tmp_path)
    assert (ran.code, ran.out, ran.err) == (2, "", err)


# --- run --json: outcomes -------------------------------------------------------------------


def test_run_json_has_a_top_level_outcomes_map_with_secrets_masked(project: Path) -> None:
    ran = chant_subprocess(
        "run", "report", "--local", "--json", cwd=project, env={"KEY": "hunter2-key"}
    )
    assert ran.code == 0, ran.err
    doc = json.loads(ran.out)
    assert doc["outcomes"] == {"Count": "3", "Raw": RAW, "Seen": "key=***"}
    assert list(doc)[-1] == "outcomes"  # after steps, as in the documented example
    assert "hunter2-key" not in ran.out + ran.err


def test_run_json_outcomes_of_a_failed_run_and_of_a_run_without_outcomes(project: Path) -> None:
    failed = chant_subprocess("run", "broken", "--local", "--json", cwd=project)
    assert failed.code == 1, failed.err
    assert json.loads(failed.out)["outcomes"] == {"First": "before"}
    quiet = chant_subprocess("run", "quiet", "--local", "--json", cwd=project)
    assert quiet.code == 0, quiet.err
    assert json.loads(quiet.out)["outcomes"] == {}


def test_run_json_outcomes_on_temporal_match_status_json(
    make_project: MakeProject, temporal_server
) -> None:
    queue = f"habits-{os.getpid()}-{time.time_ns()}"
    root = make_project({"ops/r.op.py": OPS, "chant.toml": temporal_server.toml(queue)})
    env = {"KEY": "hunter2-key"}
    ran = chant_subprocess("run", "report", "--temporal", "--json", cwd=root, env=env, timeout=120)
    assert ran.code == 0, ran.err
    doc = json.loads(ran.out)
    assert doc["mode"] == "temporal"
    assert doc["outcomes"] == {"Count": "3", "Raw": RAW, "Seen": "key=***"}
    status = chant_subprocess("status", "report", "--json", cwd=root, timeout=60)
    assert status.code == 0, status.err
    assert json.loads(status.out)["outcomes"] == doc["outcomes"]
    assert "hunter2-key" not in ran.out + ran.err + status.out
