"""A quick dev loop: a command not found (127) or not executable (126) is not retried,
and ``chant run --no-retry`` runs every step with a single attempt. In both modes.

Each step appends a line to ``attempts`` per attempt, so the file counts them; the
elapsed times are sanity bounds against the 15 s of backoff the retries would take.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from chant.ir import Profile, Retry
from chant.plan import single_attempt
from conftest import Chant, MakeProject, Ran
from temporal_server import TemporalServer

OPS = """
from chant import Op, Profile, Retry, phase, shell

slow = Profile(timeout="30s", retry=Retry(max_attempts=3, initial_interval="5s"))
quick = Profile(timeout="30s", retry=Retry(max_attempts=3, initial_interval="10ms"))

typo = Op(name="typo-{tag}", phases=[phase("Go", [shell("echo x >> attempts; ech hello")])])
noexec = Op(name="noexec-{tag}", phases=[phase("Go", [shell("echo x >> attempts; ./tool.sh")])])
flaky = Op(
    name="flaky-{tag}",
    phases=[phase("Go", [shell("echo x >> attempts; exit 3", profile=slow)])],
    on_failure=[phase("Undo", [shell("echo x >> undo; exit 5", profile=slow)])],
)
retried = Op(
    name="retried-{tag}",
    phases=[phase("Go", [shell("echo x >> attempts; exit 3", profile=quick)])],
)
fanout = Op(
    name="fanout-{tag}",
    phases=[
        phase("Go", [
            shell("echo x >> a; exit 3", profile=slow),
            shell("echo x >> b; sleep 0.3; exit 4", profile=slow),
            shell("echo x >> c", profile=slow),
        ], parallel=True),
    ],
    on_failure=[
        phase("Undo", [
            shell("echo x >> u1; exit 5", profile=slow),
            shell("echo x >> u2; exit 6", profile=slow),
        ], parallel=True),
    ],
)
interp = Op(name="interp-{tag}", phases=[phase("Go", [shell("echo x >> attempts; ./old.sh")])])
piped = Op(
    name="piped-{tag}",
    phases=[phase("Go", [shell("echo x >> attempts; echo hi | nosuchtool | cat")])],
)
"""


def project(make_project: MakeProject, tag: str, toml: str = "") -> Path:
    root = make_project({"ops/dev.op.py": OPS.format(tag=tag), "chant.toml": toml})
    (root / "tool.sh").write_text("echo never\n")  # not executable
    (root / "old.sh").write_text("#!/usr/bin/no-such-python3\nprint('never')\n")
    (root / "old.sh").chmod(0o755)
    return root


def attempts(root: Path, file: str = "attempts") -> int:
    return len((root / file).read_text().splitlines())


def step(ran: Ran) -> dict[str, object]:
    result = json.loads(ran.out)
    assert len(result["steps"]) >= 1
    found: dict[str, object] = result["steps"][0]
    return found


MODES = [pytest.param("--local", id="local"), pytest.param("--temporal", id="temporal")]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    if value == "--temporal":
        request.getfixturevalue("temporal_server")
    return value


@pytest.fixture
def root(make_project: MakeProject, mode: str, request: pytest.FixtureRequest) -> Path:
    tag = uuid.uuid4().hex[:8]
    toml = ""
    if mode == "--temporal":
        server: TemporalServer = request.getfixturevalue("temporal_server")
        toml = server.toml(f"no-retry-{tag}")
    path = project(make_project, tag, toml)
    (path / "tag").write_text(tag)
    return path


def run(chant_proc: Chant, root: Path, op: str, mode: str, *flags: str) -> tuple[Ran, float]:
    tag = (root / "tag").read_text()
    started = time.monotonic()
    ran = chant_proc("run", f"{op}-{tag}", mode, "--json", *flags, cwd=root)
    return ran, time.monotonic() - started


def test_a_command_not_found_fails_at_once(root: Path, mode: str, chant_proc: Chant) -> None:
    ran, took = run(chant_proc, root, "typo", mode)
    assert ran.code == 1, ran.err
    assert attempts(root) == 1
    assert step(ran)["attempts"] == 1
    assert step(ran)["error"] == {
        "type": "CommandNotFoundError",
        "message": "command not found: ech (exit 127)",
    }
    assert took < 12  # three attempts would wait 5 s, then 10 s


def test_a_command_not_executable_fails_at_once(root: Path, mode: str, chant_proc: Chant) -> None:
    ran, took = run(chant_proc, root, "noexec", mode)
    assert ran.code == 1, ran.err
    assert attempts(root) == 1
    assert step(ran)["error"] == {
        "type": "CommandNotExecutableError",
        "message": "command not executable: ./tool.sh: Permission denied (exit 126)",
    }
    assert took < 12


def test_no_retry_runs_every_step_once_compensation_too(
    root: Path, mode: str, chant_proc: Chant
) -> None:
    ran, took = run(chant_proc, root, "flaky", mode, "--no-retry")
    assert ran.code == 1, ran.err
    assert (attempts(root), attempts(root, "undo")) == (1, 1)
    assert step(ran)["attempts"] == 1
    assert "retrying" not in ran.err
    assert took < 12  # the profile's retries would wait 5 s + 10 s, twice


def test_no_retry_runs_each_step_of_parallel_phases_once(
    root: Path, mode: str, chant_proc: Chant
) -> None:
    ran, took = run(chant_proc, root, "fanout", mode, "--no-retry")
    assert ran.code == 1, ran.err
    counts = [attempts(root, f) for f in ("a", "b", "c", "u1", "u2")]
    assert counts == [1, 1, 1, 1, 1]
    steps = json.loads(ran.out)["steps"]
    assert {s["id"]: s["attempts"] for s in steps} == {
        "go.1": 1,
        "go.2": 1,
        "go.3": 1,
        "undo.1": 1,
        "undo.2": 1,
    }
    assert took < 12  # five steps' retries would wait 5 s + 10 s each


def test_a_missing_interpreter_on_the_shebang_line_is_named(
    root: Path, mode: str, chant_proc: Chant
) -> None:
    # dash says "./old.sh: not found" (exit 127): the file is there, its #! target is not.
    ran, _ = run(chant_proc, root, "interp", mode)
    assert ran.code == 1, ran.err
    assert attempts(root) == 1
    assert step(ran)["error"] == {
        "type": "CommandNotFoundError",
        "message": "command not found: /usr/bin/no-such-python3, the interpreter on the #! "
        "line of ./old.sh (exit 127)",
    }


def test_a_command_not_found_inside_a_pipeline_is_the_shells_business(
    make_project: MakeProject, chant: Chant
) -> None:
    # /bin/sh -c: a pipeline's status is its last command's, as docs/ops.md says.
    root = project(make_project, "p")
    ran = chant("run", "piped-p", "--json", cwd=root)
    assert ran.code == 0, ran.err
    assert "nosuchtool: not found" in ran.err


def test_without_no_retry_a_failing_step_is_retried_per_its_profile(
    root: Path, mode: str, chant_proc: Chant
) -> None:
    ran, _ = run(chant_proc, root, "retried", mode)
    assert ran.code == 1, ran.err
    assert attempts(root) == 3
    assert step(ran)["attempts"] == 3


def test_a_plain_failure_is_still_a_retryable_command_failed_error(
    make_project: MakeProject, chant: Chant
) -> None:
    root = project(make_project, "x")
    ran = chant("run", "retried-x", "--json", cwd=root)
    assert step(ran)["error"] == {"type": "CommandFailedError", "message": "command exited with 3"}


def test_single_attempt_keeps_everything_but_the_attempts() -> None:
    from chant import Op, phase, shell

    profile = Profile(name="p", timeout="7s", retry=Retry(max_attempts=5, initial_interval="2s"))
    op = Op(
        name="x",
        phases=[phase("A", [shell("true", profile=profile)])],
        on_failure=[phase("B", [shell("true", profile=profile)])],
    )
    once = single_attempt(op)
    for phases in (once.phases, once.on_failure):
        got = phases[0].steps[0].profile
        assert isinstance(got, Profile)
        assert (got.timeout, got.retry.max_attempts, got.retry.initial_interval) == ("7s", 1, "2s")
    assert op.phases[0].steps[0].profile == profile  # the Op itself is unchanged
