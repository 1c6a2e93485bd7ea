"""Teams' own activities: @activity in project modules and in installed packages."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import MakeProject, Ran

ACTIVITIES = """
import asyncio
from chant import activity


@activity
async def bump(current: str, part: str = "patch") -> dict:
    major, minor, patch = (int(x) for x in current.split("."))
    if part == "minor":
        return {"version": f"{major}.{minor + 1}.0"}
    return {"version": f"{major}.{minor}.{patch + 1}"}


@activity("count-files", profile="long_infra")
def count(path: str) -> int:
    import os
    return len(os.listdir(path))


@activity
async def chatty(ctx, times: int) -> str:
    for i in range(times):
        ctx.log(f"tick {i}")
        ctx.heartbeat({"done": i})
        await asyncio.sleep(0)
    return "done"


def helper_not_registered() -> None:
    pass
"""

OPS = """
from chant import Op, Outcome, activity, phase

release = Op(
    name="release",
    phases=[phase("Version", [
        activity("bump", current="1.4.2", part="minor", outcome=Outcome("Next", "version")),
        activity("count-files", path="ops", outcome="Files"),
        activity("chatty", times=2),
    ])],
)
"""

TOML = '[project]\nops = ["ops"]\nactivities = ["activities"]\n'


def project(make_project: MakeProject, ops: str = OPS, **extra: str) -> Path:
    return make_project(
        {"chant.toml": TOML, "activities.py": ACTIVITIES, "ops/r.op.py": ops, **extra}
    )


def test_project_activities_run_through_chant_run(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    ran = chant_proc("run", "release", "--local", cwd=project(make_project))
    assert ran.code == 0, ran.err
    assert "[outcome] Next=1.5.0" in ran.out
    assert "[outcome] Files=1" in ran.out
    assert "      tick 0\n      tick 1\n" in ran.out


def test_chant_activities_lists_sources_signatures_and_profiles(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    root = project(make_project)
    ran = chant_proc("activities", "--json", cwd=root)
    assert ran.code == 0, ran.err
    rows = {r["name"]: r for r in json.loads(ran.out)}
    assert {"shell", "kubectl_apply", "http_check", "bump", "count-files", "chatty"} <= set(rows)
    assert "helper_not_registered" not in rows
    assert rows["bump"]["signature"] == "bump(current: str, part: str = 'patch')"
    assert rows["bump"]["default_profile"] == "fast_idempotent"
    assert rows["count-files"]["default_profile"] == "long_infra"
    assert rows["chatty"]["signature"] == "chatty(times: int)"
    assert rows["bump"]["source"] == "activities.py:5"
    assert rows["shell"]["source"] == "chant (built-in)"
    table = chant_proc("activities", cwd=root)
    assert table.code == 0
    assert table.out.splitlines()[0].split() == ["NAME", "PROFILE", "SOURCE"]


def test_a_missing_argument_is_a_build_error_naming_the_step(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    ops = OPS.replace('part="minor"', 'part="minor", size=3')
    ran = chant_proc("build", cwd=project(make_project, ops))
    assert ran.code == 2
    assert (
        'ops/r.op.py:6: op "release": step "version.1": arguments do not fit activity "bump": '
        "got an unexpected keyword argument 'size'\n"
        "  hint: chant activities shows each activity's signature"
    ) in ran.err
    ops = OPS.replace('current="1.4.2", ', "")
    ran = chant_proc("build", cwd=project(make_project, ops))
    assert (
        "arguments do not fit activity \"bump\": missing a required argument: 'current'" in ran.err
    )


def test_an_unknown_activity_suggests_close_names(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    ops = OPS.replace('activity("bump"', 'activity("bumpp"')
    ran = chant_proc("run", "release", "--local", cwd=project(make_project, ops))
    assert ran.code == 2
    assert 'unknown activity "bumpp"\n  hint: did you mean "bump"?' in ran.err


def test_two_activities_with_one_name_are_an_error_naming_both(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    ops = (
        "from chant import activity\n\n@activity\nasync def bump(current: str) -> str:\n"
        "    return current\n" + OPS
    )
    root = project(make_project, ops)
    ran = chant_proc("run", "release", "--local", cwd=root)
    assert ran.code == 2
    assert 'two activities are named "bump": ' in ran.err
    assert "activities.py:5 and ops/r.op.py:3" in ran.err


def test_a_missing_activity_module_is_named(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    root = make_project(
        {
            "chant.toml": TOML.replace('"activities"]', '"acts"]'),
            "ops/r.op.py": "from chant import Op\n",
        }
    )
    ran = chant_proc("list", cwd=root)
    assert ran.code == 2
    assert (
        'chant.toml: activity module "acts" listed in [project] activities was not found\n'
        "  hint: create acts.py in the project root, or fix the name"
    ) in ran.err


def test_an_activity_from_an_installed_package_runs_through_its_entry_point(
    make_project: MakeProject, chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    # A real distribution on sys.path: a package and its dist-info with entry_points.txt,
    # exactly what pip leaves behind.
    site = tmp_path / "site"
    (site / "acme_steps").mkdir(parents=True)
    (site / "acme_steps" / "__init__.py").write_text(
        textwrap.dedent("""
        from chant import activity

        @activity(profile="policy_check")
        async def greet(who: str) -> str:
            return f"hello {who}"
        """)
    )
    info = site / "acme_steps-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-steps\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[chant.activities]\ngreet = acme_steps:greet\n")
    root = make_project(
        {
            "ops/g.op.py": """
            from chant import Op, activity, phase
            hi = Op(name="hi", phases=[phase("P", [activity("greet", who="ops", outcome="Said")])])
            """
        }
    )
    env = {"PYTHONPATH": str(site)}
    ran = chant_proc("run", "hi", "--local", "--json", cwd=root, env=env)
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["steps"][0]["outcome"] == {"name": "Said", "value": "hello ops"}
    listed = {
        r["name"]: r for r in json.loads(chant_proc("activities", "--json", cwd=root, env=env).out)
    }
    assert listed["greet"]["source"] == "entry point greet = acme_steps:greet (acme-steps)"
    assert listed["greet"]["default_profile"] == "policy_check"


def test_activity_decorator_with_step_arguments_is_refused(
    make_project: MakeProject, chant: Callable[..., Ran]
) -> None:
    root = make_project(
        {
            "ops/x.op.py": """
            from chant import activity

            @activity("thing", retries=3)
            def thing() -> None:
                pass
            """
        }
    )
    ran = chant("list", cwd=root)
    assert ran.code == 2
    assert (
        "ops/x.op.py:3: TypeError while importing: @activity(...) on a function takes only a "
        "name and profile=; arguments belong to the steps that call it"
    ) in ran.err


def test_a_project_activity_hides_an_installed_one_of_the_same_name(
    make_project: MakeProject, chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "acme_notify").mkdir(parents=True)
    (site / "acme_notify" / "__init__.py").write_text(
        "async def notify(msg: str) -> str:\n    return 'installed'\n"
    )
    info = site / "acme_notify-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-notify\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[chant.activities]\nnotify = acme_notify:notify\n")
    root = make_project(
        {
            "ops/n.op.py": """
            from chant import Op, activity, phase

            @activity
            async def notify(msg: str) -> str:
                return "project"

            n = Op(name="n", phases=[phase("P", [activity("notify", msg="hi", outcome="Who"),
                                                 activity("nope-typo")])])
            """
        }
    )
    env = {"PYTHONPATH": str(site)}
    # Looking up the unknown name loads the entry points; the project's notify still wins.
    ran = chant_proc("activities", "--json", cwd=root, env=env)
    assert ran.code == 2  # the typo is a problem of the project's, listed after the rows
    assert 'unknown activity "nope-typo"' in ran.err
    rows = json.loads(ran.out)
    notify = [r for r in rows if r["name"] == "notify"]
    assert [r["source"] for r in notify] == [
        "ops/n.op.py:3",
        "entry point notify = acme_notify:notify (acme-notify) — hidden by the project's own "
        "'notify'",
    ]


def test_chant_activities_lists_what_it_can_and_exits_2_while_an_op_is_broken(
    make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    ops = OPS.replace('current="1.4.2", ', "")
    root = project(make_project, ops)
    built = chant_proc("build", cwd=root)
    assert built.code == 2
    for args in (("activities",), ("activities", "--json")):
        ran = chant_proc(*args, cwd=root)
        assert ran.code == 2, ran.err
        assert "bump(current: str, part: str = 'patch')" in ran.out
        assert ran.err == built.err  # the same problems, reported as chant build does
    assert json.loads(chant_proc("activities", "--json", cwd=root).out)[0]["name"] == "build"


BROKEN_OPS = {
    "an op file that raises": "raise RuntimeError('boom')\n",
    "a syntax error": "from chant import Op\nop = Op(name='x',\n",
    "an invalid Op": "from chant import Op\nop = Op(name='Not Kebab', phases=[])\n",
    "an unknown activity": (
        "from chant import Op, activity, phase\n"
        "op = Op(name='x', phases=[phase('P', [activity('nope')])])\n"
    ),
    "an unknown profile": (
        "from chant import Op, phase, shell\n"
        "op = Op(name='x', phases=[phase('P', [shell('true', profile='nope')])])\n"
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_OPS))
def test_chant_activities_exits_2_with_the_problems_of_any_invalid_op_file(
    case: str, make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    root = project(make_project, OPS, **{"ops/broken.op.py": BROKEN_OPS[case]})
    built = chant_proc("build", cwd=root)
    assert built.code == 2
    assert "ops/broken.op.py" in built.err
    ran = chant_proc("activities", cwd=root)
    assert (ran.code, ran.err) == (2, built.err)
    assert "bump(current: str, part: str = 'patch')" in ran.out
    listed = chant_proc("activities", "--json", cwd=root)
    assert (listed.code, listed.err) == (2, built.err)
    assert {"shell", "bump"} <= {r["name"] for r in json.loads(listed.out)}


def test_listing_into_a_closed_pipe_is_quiet(make_project: MakeProject) -> None:
    import subprocess
    import sys

    root = project(make_project)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chant", "activities"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0
    assert err == ""
