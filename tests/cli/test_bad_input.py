"""Bad input: a precise message (file, line, what, fix), exit 2, no traceback, nothing run.

Most Ops here start with a step that would create ``ran.marker``; its absence proves that
nothing ran before the definition was rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Ran

MakeProject = Callable[..., Path]
Chant = Callable[..., Ran]

HEAD = "from chant import Op, Profile, activity, phase, shell\n"
MARK = 'phase("Prepare", [shell("touch ran.marker")])'
GOOD = HEAD + f'good = Op(name="good", phases=[{MARK}])\n'


def deploy(*phases: str) -> str:
    """An op file whose line 2 declares Op "deploy": the marker phase, then ``phases``."""
    return HEAD + f'deploy = Op(name="deploy", phases=[{", ".join([MARK, *phases])}])\n'


def assert_rejected(ran: Ran, root: Path, message: str) -> None:
    assert ran.err == f"chant: error: {message}\n"
    assert ran.code == 2
    assert "Traceback" not in ran.err
    assert not (root / "ran.marker").exists()


def one_problem(text: str) -> str:
    return f"1 problem in the project:\n{text}"


def syntax_message(source: str) -> tuple[int, str]:
    try:
        compile(source, "x.op.py", "exec")
    except SyntaxError as exc:
        assert exc.lineno is not None
        return exc.lineno, exc.msg
    raise AssertionError("the source compiles")


# --- broken *.op.py files -----------------------------------------------------------


def test_a_syntax_error_in_an_op_file_names_file_and_line(
    make_project: MakeProject, chant: Chant
) -> None:
    broken = "from chant import Op\n\nbroken = Op(name='x', phases=[\n"
    line, msg = syntax_message(broken)
    root = make_project({"ops/good.op.py": GOOD, "ops/broken.op.py": broken})
    assert_rejected(
        chant("run", "good", cwd=root),
        root,
        one_problem(
            f"ops/broken.op.py:{line}: SyntaxError: {msg}\n"
            "  hint: fix the syntax; chant imports every *.op.py"
        ),
    )


def test_an_exception_raised_by_an_op_file_names_file_line_and_error(
    make_project: MakeProject, chant: Chant
) -> None:
    broken = "import os\n\nTOKEN = os.environ['NOT_SET_ANYWHERE']\n"
    root = make_project({"ops/good.op.py": GOOD, "ops/broken.op.py": broken})
    assert_rejected(
        chant("run", "good", cwd=root),
        root,
        one_problem(
            "ops/broken.op.py:3: KeyError while importing: 'NOT_SET_ANYWHERE'\n"
            "  hint: fix the error above; chant imports every *.op.py to find its Ops"
        ),
    )


def test_an_exception_raised_in_a_helper_points_at_the_op_file_line_that_called_it(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {
            "opshelpers_boom.py": "def boom():\n    raise ValueError('no cluster configured')\n",
            "ops/broken.op.py": "import opshelpers_boom\n\nopshelpers_boom.boom()\n",
        }
    )
    assert_rejected(
        chant("build", cwd=root),
        root,
        one_problem(
            "ops/broken.op.py:3: ValueError while importing: no cluster configured\n"
            "  hint: fix the error above; chant imports every *.op.py to find its Ops"
        ),
    )


def test_an_op_file_calling_sys_exit_is_reported_not_obeyed(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD, "ops/broken.op.py": "import sys\nsys.exit(3)\n"})
    ran = chant_proc("run", "good", cwd=root)
    assert ran.code == 2
    assert "ops/broken.op.py:2: it called sys.exit(3) while being imported" in ran.err
    assert "Traceback" not in ran.err
    assert not (root / "ran.marker").exists()


# --- malformed Ops ------------------------------------------------------------------


def test_an_op_with_no_phases_is_rejected(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"ops/empty.op.py": HEAD + 'empty = Op(name="empty", phases=[])\n'})
    assert_rejected(
        chant("build", cwd=root),
        root,
        one_problem(
            'ops/empty.op.py:2: op "empty": has no phases\n  hint: add at least one phase([...])'
        ),
    )


def test_an_empty_phase_is_rejected(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"ops/deploy.op.py": deploy('phase("Roll out", [])')})
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:2: op "deploy": phase "Roll out" has no steps\n'
            "  hint: add a step (e.g. shell(...)) or remove the phase"
        ),
    )


def test_an_unknown_activity_is_rejected_with_a_suggestion(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/deploy.op.py": deploy('phase("Go", [activity("shel", cmd="ls")])')})
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:2: op "deploy": step "go.1": unknown activity "shel"\n'
            '  hint: did you mean "shell"?'
        ),
    )


def test_an_unknown_profile_is_rejected_with_a_suggestion(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"ops/deploy.op.py": deploy('phase("Go", [shell("ls", profile="k8s_wiat")])')}
    )
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:2: op "deploy": step "go.1": unknown profile \'k8s_wiat\'\n'
            '  hint: did you mean "k8s_wait"? (profiles come from the built-ins and '
            "[profiles.*] in chant.toml)"
        ),
    )


def test_a_bad_duration_in_an_inline_profile_is_rejected_with_the_accepted_form(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {
            "ops/deploy.op.py": deploy(
                'phase("Go", [shell("ls", profile=Profile(timeout="5 minutes"))])'
            )
        }
    )
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:2: op "deploy": step "go.1" profile timeout: bad duration '
            "'5 minutes': write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"
        ),
    )


def test_duplicate_op_names_are_rejected_naming_both_files(
    make_project: MakeProject, chant: Chant
) -> None:
    same = HEAD + f'deploy = Op(name="deploy", phases=[{MARK}])\n'
    root = make_project({"ops/a.op.py": same, "ops/b.op.py": same})
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        one_problem(
            'duplicate Op name "deploy": declared at ops/a.op.py:2 and at ops/b.op.py:2\n'
            "  hint: Op names must be unique in a project; rename one"
        ),
    )


def test_duplicate_step_ids_are_rejected_naming_both_lines(
    make_project: MakeProject, chant: Chant
) -> None:
    source = (
        HEAD + "deploy = Op(name='deploy', phases=[\n"
        "    phase('Go', [shell('touch ran.marker', id='step')]),\n"
        "    phase('Again', [shell('ls', id='step')]),\n"
        "])\n"
    )
    root = make_project({"ops/deploy.op.py": source})
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:4: op "deploy": duplicate step id "step" (first declared at '
            "ops/deploy.op.py:3)\n"
            "  hint: give each step a unique id= (or leave ids to chant)"
        ),
    )


def test_an_op_name_that_is_not_kebab_case_is_rejected(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/x.op.py": HEAD + f'x = Op(name="Deploy API", phases=[{MARK}])\n'})
    assert_rejected(
        chant("build", cwd=root),
        root,
        one_problem(
            "ops/x.op.py:2: op \"Deploy API\": name 'Deploy API' is not kebab-case\n"
            '  hint: use lowercase words joined by "-", e.g. "deploy-api"'
        ),
    )


def test_a_bad_op_elsewhere_in_the_project_stops_any_run(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"ops/good.op.py": GOOD, "ops/deploy.op.py": deploy('phase("Go", [activity("nope")])')}
    )
    ran = chant("run", "good", cwd=root)
    assert ran.code == 2
    assert 'unknown activity "nope"' in ran.err
    assert not (root / "ran.marker").exists()


# --- every problem at once ------------------------------------------------------------


def test_all_problems_are_reported_together_in_one_pass(
    make_project: MakeProject, chant: Chant
) -> None:
    broken = "from chant import Op\n\nx = (\n"
    line, msg = syntax_message(broken)
    root = make_project(
        {
            "ops/a_broken.op.py": broken,
            "ops/deploy.op.py": deploy('phase("Go", [shell("ls", profile="fast_idempotnt")])'),
        }
    )
    assert_rejected(
        chant("run", "deploy", cwd=root),
        root,
        "2 problems in the project:\n"
        f"ops/a_broken.op.py:{line}: SyntaxError: {msg}\n"
        "  hint: fix the syntax; chant imports every *.op.py\n"
        'ops/deploy.op.py:2: op "deploy": step "go.1": unknown profile \'fast_idempotnt\'\n'
        '  hint: did you mean "fast_idempotent"? (profiles come from the built-ins and '
        "[profiles.*] in chant.toml)",
    )


# --- chant.toml ---------------------------------------------------------------------


def test_an_unknown_key_in_chant_toml_is_rejected_naming_key_file_and_line(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"chant.toml": '[project]\nops = ["ops"]\nparallel = 4\n', "ops/good.op.py": GOOD}
    )
    assert_rejected(
        chant("run", "good", cwd=root),
        root,
        'chant.toml:3: unknown key "parallel" in [project]\n  hint: allowed keys: ops, activities',
    )


def test_a_bad_profile_in_chant_toml_is_rejected_before_anything_runs(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"chant.toml": '[profiles.quick]\ntimeout = "5 minutes"\n', "ops/good.op.py": GOOD}
    )
    assert_rejected(
        chant("run", "good", cwd=root),
        root,
        "chant.toml:2: profiles.quick.timeout: bad duration '5 minutes': "
        "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d",
    )


# --- command line -------------------------------------------------------------------


def test_running_an_unknown_op_lists_the_available_ones(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD, "ops/deploy.op.py": deploy()})
    assert_rejected(
        chant("run", "deplyo", cwd=root),
        root,
        'no Op named "deplyo"; available: deploy, good\n  hint: did you mean "deploy"?',
    )


def test_running_an_op_in_a_project_without_ops_says_how_to_write_one(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": ""})
    assert_rejected(
        chant("run", "hello", cwd=root),
        root,
        f'no Op named "hello": no Ops found under {root.resolve()}\n'
        "  hint: write one in ops/<name>.op.py (chant init creates ops/hello.op.py)",
    )


def test_local_and_temporal_together_are_a_usage_error(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD})
    assert_rejected(
        chant("run", "good", "--local", "--temporal", cwd=root),
        root,
        "--local and --temporal cannot be used together\n  hint: pass one of them, or neither",
    )


def test_json_and_progress_json_together_are_a_usage_error(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD})
    assert_rejected(
        chant("run", "good", "--json", "--progress-json", cwd=root),
        root,
        "--json and --progress-json cannot be used together\n"
        "  hint: --json prints the result; --progress-json streams events",
    )


def test_run_without_an_op_name_is_a_usage_error(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"ops/good.op.py": GOOD})
    ran = chant("run", cwd=root)
    assert ran.code == 2
    assert "NAME" in ran.err
    assert "Traceback" not in ran.err


def test_an_unknown_command_is_a_usage_error(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({})
    ran = chant("rnu", cwd=root)
    assert ran.code == 2
    assert "'rnu'" in ran.err
    assert "Traceback" not in ran.err


def test_an_unknown_option_is_a_usage_error(make_project: MakeProject, chant: Chant) -> None:
    root = make_project({"ops/good.op.py": GOOD})
    ran = chant("run", "good", "--lcoal", cwd=root)
    assert ran.code == 2
    assert "--lcoal" in ran.err
    assert not (root / "ran.marker").exists()


def test_debug_shows_the_traceback_of_a_definition_error(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": "[projcet]\n"})
    ran = chant("--debug", "build", cwd=root)
    assert ran.code == 2
    assert "Traceback" in ran.err
    assert ran.err.endswith(
        'chant: error: chant.toml:1: unknown key "projcet"\n'
        "  hint: chant.toml has the tables [project], [profiles.*], [environments.*] "
        "and [temporal]\n"
    )
