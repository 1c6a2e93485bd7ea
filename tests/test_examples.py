"""The shipped examples run as documented."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Ran

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart"


def test_quickstart_hello_runs_locally(chant_proc: Callable[..., Ran]) -> None:
    ran = chant_proc("run", "hello", cwd=QUICKSTART)
    assert ran.code == 0, ran.err
    assert "[outcome] Greeting=hello from chant" in ran.out
    assert 'Op "hello" completed in' in ran.out
    assert ran.err == (
        'chant: no [temporal] in chant.toml — running "hello" locally '
        "(in-process: no gates, schedules or resume)\n"
    )


def test_quickstart_rollout_rolls_back_when_the_deploy_fails(
    chant_proc: Callable[..., Ran],
) -> None:
    ran = chant_proc("run", "rollout", "--local", cwd=QUICKSTART, env={"FAIL": "1"})
    assert ran.code == 1
    assert "rolling back to 1.4.1" in ran.out
    assert ran.out.rstrip().endswith(
        "step deploy.1 failed: CommandFailedError: command exited with 1: cluster said no"
    )


def test_the_quickstart_is_exactly_what_chant_init_writes() -> None:
    # The README's tutorial and `make demo` must show the same files a new user gets.
    from chant.cli.init import FILES

    for name, text in FILES.items():
        assert (QUICKSTART / name).read_text() == text, name


PASSING_DATA = Path(__file__).parent.parent / "examples" / "passing-data"


def test_passing_data_release_flows_values_skips_and_rolls_back(
    chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "passing-data"
    shutil.copytree(PASSING_DATA, root, ignore=shutil.ignore_patterns(".deployed"))
    deployed = root / ".deployed"

    staging = chant_proc("run", "release", "version=1.5.0", cwd=root)
    assert staging.code == 0, staging.err
    assert "deployed registry.example.com/shop:1.5.0 to staging with 2 replicas" in staging.out
    assert (
        '  – smoke  sh bin/deployctl smoke staging (skipped: condition false: env == "prod" '
        '(env is "staging"))'
    ) in staging.out
    assert (deployed / "staging").read_text() == "registry.example.com/shop:1.5.0\n"

    prod = chant_proc("run", "release", "version=1.5.0", "env=prod", "replicas=3", cwd=root)
    assert prod.code == 0, prod.err
    assert "smoke test of prod passed (registry.example.com/shop:1.5.0)" in prod.out

    failed = chant_proc(
        "run", "release", "version=1.6.0", "env=prod", cwd=root, env={"FAIL_SMOKE": "1"}
    )
    assert failed.code == 1
    assert "  ▸ rollback  sh bin/deployctl deploy prod registry.example.com/shop:1.5.0" in (
        failed.out
    )
    assert (deployed / "prod").read_text() == "registry.example.com/shop:1.5.0\n"

    first = chant_proc(
        "run",
        "release",
        "version=1.0.0",
        "env=prod",
        cwd=tmp_path / "passing-data",
        env={"FAIL_DEPLOY": "1"},
    )
    assert first.code == 1
    # prod runs 1.5.0 already: the rollback goes back to it (and is refused too here).
    assert "rollback  sh bin/deployctl deploy prod registry.example.com/shop:1.5.0" in first.out

    (deployed / "staging").unlink()
    fresh = chant_proc("run", "release", "version=2.0", cwd=root, env={"FAIL_DEPLOY": "1"})
    assert fresh.code == 1
    assert (
        "  – rollback  sh bin/deployctl deploy staging none 2 (skipped: condition false: "
        'previous.stdout != "none" (previous.stdout is "none"))'
    ) in fresh.out

    bad = chant_proc("run", "release", "version=1.0", "env=qa", cwd=root)
    assert bad.code == 2
    assert not (deployed / "qa").exists()
