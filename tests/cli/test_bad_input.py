"""Bad input: a precise message (file, line, what, fix), exit 2, no traceback, nothing run.

Most Ops here start with a step that would create ``ran.marker``; its absence proves that
nothing ran before the definition was rejected.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import Chant, MakeProject, Ran

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
        chant("build", cwd=root),
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
        chant("build", cwd=root),
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
    ran = chant_proc("build", cwd=root)
    assert ran.code == 2
    assert "ops/broken.op.py:2: it called sys.exit(3) while being imported" in ran.err
    assert "Traceback" not in ran.err
    assert not (root / "dist").exists()
    # `chant run good` needs only good: the exit is a warning, and good runs.
    ran = chant_proc("run", "good", cwd=root)
    assert ran.code == 0, ran.err
    assert "chant: warning: ops/broken.op.py:2: it called sys.exit(3) while being imported\n" in (
        ran.err
    )
    assert (root / "ran.marker").exists()


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


def test_a_bad_op_elsewhere_in_the_project_is_a_warning_and_the_run_goes_on(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"ops/good.op.py": GOOD, "ops/deploy.op.py": deploy('phase("Go", [activity("nope")])')}
    )
    ran = chant("run", "good", cwd=root)
    assert ran.code == 0, ran.err
    assert ran.err.startswith('chant: warning: ops/deploy.op.py:2: op "deploy": step "go.1": ')
    assert 'unknown activity "nope"' in ran.err
    assert (root / "ran.marker").exists()
    assert chant("build", cwd=root).code == 2


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
        chant("build", cwd=root),
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
        'chant.toml:3: unknown key "parallel" in [project]\n'
        "  hint: allowed keys: ops, activities, name",
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
        'no Op named "deplyo"; available: deploy, good\n'
        f"  looked for *.op.py and ops/**/*.op.py in {root.resolve()} (no chant.toml there or "
        "above)\n"
        "  considered ops/deploy.op.py, ops/good.op.py\n"
        '  hint: did you mean "deploy"?',
    )


def test_running_an_op_in_a_project_without_ops_says_how_to_write_one(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"chant.toml": ""})
    assert_rejected(
        chant("run", "hello", cwd=root),
        root,
        f'no Op named "hello": no Ops found under {root.resolve()}\n'
        f"  looked for **/*.op.py in {root.resolve()} (as [project] ops of chant.toml says)\n"
        "  found no such file\n"
        "  hint: write one in ops/<name>.op.py, or list its folder in [project] ops of "
        "chant.toml (chant init creates ops/hello.op.py)",
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
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        "usage: chant [-h] [-V] [--debug] COMMAND ...\n"
        'chant: error: unknown command "rnu"; did you mean "run"?\n'
    )


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


# --- every DSL field is checked for type and value ----------------------------------
# Each case is one mistake on line 2 of ops/deploy.op.py, after a phase that would
# create ran.marker: the build names file, line and field, and nothing runs.

TYPED_HEAD = (
    "from chant import Op, Outcome, Profile, Retry, activity, build, gate, helm_install, "
    "http_check, kubectl_apply, phase, secret, shell\n"
)


def mistake(kind: str, text: str) -> str:
    """An op file whose line 2 declares Op "deploy" with one mistake: ``text`` is an Op
    field (``kind`` "op"), a phase ("phase") or a step of phase "Go" ("step")."""
    if kind == "op":
        fields = {"name": '"deploy"', "phases": f"[{MARK}]"}
        key, _, value = text.partition("=")
        fields[key] = value
        return TYPED_HEAD + f"deploy = Op({', '.join(f'{k}={v}' for k, v in fields.items())})\n"
    if kind == "phase":
        return TYPED_HEAD + f'deploy = Op(name="deploy", phases=[{MARK}, {text}])\n'
    return TYPED_HEAD + f'deploy = Op(name="deploy", phases=[{MARK}, phase("Go", [{text}])])\n'


WRONG_TYPES = [
    pytest.param(
        "op",
        'name="a" * 201',
        "Op: name is 201 characters long, over the limit of 200",
        id="op-name-too-long",
    ),
    pytest.param(
        "phase",
        'phase("P" * 201, [shell("x")])',
        'op "deploy": phases[1] name is 201 characters long, over the limit of 200\n'
        '  hint: write phase("Name", [...])',
        id="phase-name-too-long",
    ),
    pytest.param(
        "op",
        'search_attributes={"ChantOp": "x"}',
        'op "deploy": search attribute "ChantOp" is chant\'s own (the Op name, its '
        "outcomes, its project); pick another name",
        id="search-attribute-chants-own",
    ),
    pytest.param(
        "op",
        'search_attributes={"WorkflowId": "x"}',
        'op "deploy": search attribute "WorkflowId" is reserved by Temporal; pick another name',
        id="search-attribute-reserved-by-temporal",
    ),
    pytest.param(
        "op",
        'search_attributes={"Big": "é" * 1500}',
        'op "deploy": search attribute "Big" has a value of 3000 bytes, over Temporal\'s '
        "limit of 2048",
        id="search-attribute-value-too-big",
    ),
    pytest.param(
        "op",
        'name=["x"]',
        "Op: name must be a string, got list ['x']\n"
        '  hint: use lowercase words joined by "-", e.g. "deploy-api"',
        id="op-name-a-list",
    ),
    pytest.param(
        "op",
        'name="deploy\\n"',
        "Op: name 'deploy\\n' is not kebab-case\n"
        '  hint: use lowercase words joined by "-", e.g. "deploy-api"',
        id="op-name-trailing-newline",
    ),
    pytest.param(
        "op",
        "name=5",
        "Op: name must be a string, got int 5\n"
        '  hint: use lowercase words joined by "-", e.g. "deploy-api"',
        id="op-name-an-int",
    ),
    pytest.param(
        "op",
        'phases="Build"',
        "op \"deploy\": phases must be a list, got str 'Build'\n  hint: write a list of phase(...)",
        id="phases-a-string",
    ),
    pytest.param(
        "op",
        "phases=[5]",
        'op "deploy": phases[0] is not a phase(...): got int 5\n'
        '  hint: write phase("Name", [steps...])',
        id="phases-holding-a-number",
    ),
    pytest.param(
        "op",
        'on_failure=phase("Undo", [shell("x")])',
        "op \"deploy\": on_failure must be a list, got Phase Phase(name='Undo', "
        "steps=(ActivityStep(f…\n"
        "  hint: write a list of phase(...)",
        id="on-failure-a-phase-not-a-list",
    ),
    pytest.param(
        "op",
        "overview=3",
        'op "deploy": overview must be a string, got int 3',
        id="overview-a-number",
    ),
    pytest.param(
        "op",
        "depends=[5]",
        'op "deploy": depends must list Op names, got int 5',
        id="depends-a-number-in-the-list",
    ),
    pytest.param(
        "op",
        'depends="build"',
        'op "deploy": depends must be a list, got str \'build\'\n  hint: write ["other-op", ...]',
        id="depends-a-string",
    ),
    pytest.param(
        "op",
        'search_attributes=["a"]',
        "op \"deploy\": search_attributes must be a dict, got list ['a']\n"
        '  hint: write {"Name": "value", ...}',
        id="search-attributes-a-list",
    ),
    pytest.param(
        "op",
        'search_attributes={"Env": 1}',
        "op \"deploy\": search attribute 'Env' must map a string to a string\n"
        "  hint: names and values are strings without control characters",
        id="search-attributes-int-value",
    ),
    pytest.param(
        "op",
        'task_queue=""',
        'op "deploy": task_queue must not be empty\n  hint: name a task queue, or omit it',
        id="task-queue-empty",
    ),
    pytest.param(
        "op",
        "task_queue=7",
        'op "deploy": task_queue must be a string, got int 7\n'
        "  hint: name a task queue, or omit it",
        id="task-queue-a-number",
    ),
    pytest.param(
        "op",
        "schedule=5",
        'op "deploy": schedule 5: it is neither a cron expression nor an '
        "interval\n"
        '  hint: write a 5-field cron expression such as "*/5 * * * *" or "0 3 * '
        '* MON-FRI" (minute hour day-of-month month day-of-week), or an interval '
        'such as "every 1h"',
        id="schedule-a-number",
    ),
    pytest.param(
        "op",
        "schema_version=2",
        'op "deploy": schema_version must be 1, got int 2\n  hint: leave schema_version out',
        id="schema-version-changed",
    ),
    pytest.param(
        "phase",
        'phase(123, [shell("x")])',
        'op "deploy": phases[1] name must be a string, got int 123\n'
        '  hint: write phase("Name", [...])',
        id="phase-name-a-number",
    ),
    pytest.param(
        "phase",
        'phase("", [shell("x")])',
        'op "deploy": phases[1] name must not be empty\n  hint: write phase("Name", [...])',
        id="phase-name-empty",
    ),
    pytest.param(
        "phase",
        'phase("Go\\n", [shell("x")])',
        "op \"deploy\": phases[1] name 'Go\\n' holds the control character '\\n'\n"
        '  hint: write phase("Name", [...])',
        id="phase-name-newline",
    ),
    pytest.param(
        "phase",
        'phase("Go", shell("x"))',
        'op "deploy": phase "Go": steps must be a list, got ActivityStep '
        "ActivityStep(fn='shell', args={'cmd': 'x…\n"
        "  hint: write a list of steps",
        id="steps-a-step-not-a-list",
    ),
    pytest.param(
        "phase",
        'phase("Go", 5)',
        'op "deploy": phase "Go": steps must be a list, got int 5\n  hint: write a list of steps',
        id="steps-a-number",
    ),
    pytest.param(
        "phase",
        'phase("Go", ["ls"])',
        'op "deploy": phase "Go": str \'ls\' is not a step\n'
        "  hint: steps are made by shell(...), activity(...) or gate(...)",
        id="step-a-string",
    ),
    pytest.param(
        "phase",
        'phase("Go", [shell("x")], parallel="yes")',
        'op "deploy": phase "Go": parallel must be True or False, got str \'yes\'',
        id="parallel-a-string",
    ),
    pytest.param(
        "phase",
        'phase("Go", [shell("x")], parallel=True, fail_fast=1)',
        'op "deploy": phase "Go": fail_fast must be True or False, got int 1',
        id="fail-fast-a-number",
    ),
    pytest.param(
        "phase",
        'phase("Go", [shell("x")], parallel=True, max_concurrency=0)',
        'op "deploy": phase "Go": max_concurrency must be a positive integer, got int 0',
        id="max-concurrency-zero",
    ),
    pytest.param(
        "phase",
        'phase("Go", [shell("x")], parallel=True, max_concurrency=-1)',
        'op "deploy": phase "Go": max_concurrency must be a positive integer, got int -1',
        id="max-concurrency-negative",
    ),
    pytest.param(
        "phase",
        'phase("Go", [shell("x")], parallel=True, max_concurrency=True)',
        'op "deploy": phase "Go": max_concurrency must be a positive integer, got bool True',
        id="max-concurrency-true",
    ),
    pytest.param(
        "phase",
        'phase("Go", [shell("x")], parallel=True, max_concurrency=2.5)',
        'op "deploy": phase "Go": max_concurrency must be a positive integer, got float 2.5',
        id="max-concurrency-a-float",
    ),
    pytest.param(
        "step",
        "shell(123)",
        'op "deploy": step "go.1": argument "cmd" must be a string, got int 123\n'
        "  hint: chant activities shows each signature",
        id="shell-a-number",
    ),
    pytest.param(
        "step",
        'shell(["ls", "-l"])',
        'op "deploy": step "go.1": argument "cmd" must be a string, got list '
        "['ls', '-l']\n"
        "  hint: chant activities shows each signature",
        id="shell-a-list",
    ),
    pytest.param(
        "step",
        'shell("echo a\\x00b")',
        'op "deploy": step "go.1": argument \'echo a\\x00b\' holds a NUL byte\n'
        "  hint: no command, argument, variable or path can hold one; remove it",
        id="shell-nul-byte",
    ),
    pytest.param(
        "step",
        'shell("x", env={"A": 1})',
        'op "deploy": step "go.1": argument "env" must be a dict of string keys '
        "to string values, got dict {'A': 1}\n"
        "  hint: chant activities shows each signature",
        id="env-int-value",
    ),
    pytest.param(
        "step",
        'shell("x", env=["A=1"])',
        'op "deploy": step "go.1": argument "env" must be a dict of string keys '
        "to string values, got list ['A=1']\n"
        "  hint: chant activities shows each signature",
        id="env-a-list",
    ),
    pytest.param(
        "step",
        'shell("x", env={1: "a"})',
        'op "deploy": step "go.1": argument keys must be strings, got 1',
        id="env-int-key",
    ),
    pytest.param(
        "step",
        'shell("x", cwd=5)',
        'op "deploy": step "go.1": argument "cwd" must be a string, got int 5\n'
        "  hint: chant activities shows each signature",
        id="cwd-a-number",
    ),
    pytest.param(
        "step",
        'shell("x", env={"A": float("nan")})',
        'op "deploy": step "go.1": argument value nan is not a finite number',
        id="arg-nan",
    ),
    pytest.param(
        "step",
        'activity("shell", cmd=b"ls")',
        'op "deploy": step "go.1": argument value b\'ls\' is not JSON data\n'
        "  hint: use str, int, float, bool, None, lists, dicts or secret(...)",
        id="arg-not-json",
    ),
    pytest.param(
        "step",
        'activity(["shell"])',
        'op "deploy": activity name must be a non-empty string, got list '
        "['shell']\n"
        '  hint: write activity("name", ...)',
        id="activity-name-a-list",
    ),
    pytest.param(
        "step",
        "activity()",
        "op \"deploy\": activity name must be a non-empty string, got str ''\n"
        '  hint: write activity("name", ...)',
        id="activity-name-empty",
    ),
    pytest.param(
        "step",
        "shell(secret(5))",
        'op "deploy": step "go.1": secret name 5 is not an environment variable '
        "name\n"
        '  hint: write secret("NAME") with letters, digits and _',
        id="secret-name-a-number",
    ),
    pytest.param(
        "step",
        'shell("x", env={"T": secret("MY-TOKEN")})',
        'op "deploy": step "go.1": secret name \'MY-TOKEN\' is not an environment '
        "variable name\n"
        '  hint: write secret("NAME") with letters, digits and _',
        id="secret-name-with-a-dash",
    ),
    pytest.param(
        "step",
        'shell("x", id=5)',
        'op "deploy": step "go.1": id must be a string, got int 5',
        id="step-id-a-number",
    ),
    pytest.param(
        "step",
        'shell("x", id="a\\n")',
        "op \"deploy\": step \"go.1\": id 'a\\n' holds the control character '\\n'",
        id="step-id-newline",
    ),
    pytest.param(
        "step",
        'shell("x", outcome=123)',
        'op "deploy": step "go.1": outcome must be a name or Outcome(...), got '
        "int 123\n"
        '  hint: write outcome="Name" or outcome=Outcome("Name", "dot.path")',
        id="outcome-a-number",
    ),
    pytest.param(
        "step",
        'shell("x", outcome="A=B")',
        "op \"deploy\": step \"go.1\": outcome name 'A=B' holds '=' (outcomes are "
        "published as Name=value)\n"
        '  hint: write outcome="Name" or outcome=Outcome("Name", "dot.path")',
        id="outcome-name-with-equals",
    ),
    pytest.param(
        "step",
        'shell("x", outcome=Outcome("A", "stdout..x"))',
        'op "deploy": step "go.1": outcome path must be a dot-path such as '
        '"stdout" or "items.0.id", got str \'stdout..x\'\n'
        '  hint: write outcome="Name" or outcome=Outcome("Name", "dot.path")',
        id="outcome-path-empty-segment",
    ),
    pytest.param(
        "step",
        'shell("x", profile=5)',
        'op "deploy": step "go.1": unknown profile int 5\n'
        '  hint: write profile="name" or profile=Profile(...)',
        id="profile-a-number",
    ),
    pytest.param(
        "step",
        'shell("x", profile=Profile(retry=None))',
        'op "deploy": step "go.1" profile retry: must be Retry(...), got '
        "NoneType None\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="profile-retry-none",
    ),
    pytest.param(
        "step",
        'shell("x", profile=Profile(timeout=30))',
        'op "deploy": step "go.1" profile timeout: must be a duration string '
        'such as "30s", got int 30\n'
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="profile-timeout-a-number",
    ),
    pytest.param(
        "step",
        "gate(5)",
        'op "deploy": gate signal must be a string, got int 5\n  hint: write gate("approve-prod")',
        id="gate-signal-a-number",
    ),
    pytest.param(
        "step",
        'gate("ok", timeout=60)',
        'op "deploy": gate "ok" timeout: must be a duration string such as "30s", got int 60',
        id="gate-timeout-a-number",
    ),
    pytest.param(
        "step",
        'gate("ok", timeout="0s")',
        'op "deploy": gate "ok" timeout: \'0s\' must be at least 1ms',
        id="gate-timeout-zero",
    ),
    pytest.param(
        "step",
        'gate("ok", description=5)',
        'op "deploy": gate "ok" description must be a string, got int 5',
        id="gate-description-a-number",
    ),
    pytest.param(
        "step",
        'http_check("http://x", status="200")',
        'op "deploy": step "go.1": argument "status" must be an HTTP status code '
        "(100-599) or a list of them, got str '200'\n"
        "  hint: chant activities shows each signature",
        id="http-status-a-string",
    ),
    pytest.param(
        "step",
        'http_check("http://x", status=[200, 999])',
        'op "deploy": step "go.1": argument "status" must be an HTTP status code '
        "(100-599) or a list of them, got list [200, 999]\n"
        "  hint: chant activities shows each signature",
        id="http-status-out-of-range",
    ),
    pytest.param(
        "step",
        'http_check("http://x", interval="soon")',
        'op "deploy": step "go.1": argument "interval" must be a duration string '
        "such as 2s, got str 'soon'\n"
        "  hint: chant activities shows each signature",
        id="http-interval-bad",
    ),
    pytest.param(
        "step",
        'http_check("http://x", headers={"X": 1})',
        'op "deploy": step "go.1": argument "headers" must be a dict of string '
        "keys to string values, got dict {'X': 1}\n"
        "  hint: chant activities shows each signature",
        id="http-headers-int",
    ),
    pytest.param(
        "step",
        "build(command=5)",
        'op "deploy": step "go.1": argument "command" must be a string or a '
        "non-empty list of strings, got int 5\n"
        "  hint: chant activities shows each signature",
        id="build-command-a-number",
    ),
    pytest.param(
        "step",
        "build(command=[])",
        'op "deploy": step "go.1": argument "command" must be a string or a '
        "non-empty list of strings, got list []\n"
        "  hint: chant activities shows each signature",
        id="build-command-empty-list",
    ),
    pytest.param(
        "step",
        'helm_install("r", "c", values=5)',
        'op "deploy": step "go.1": argument "values" must be a list of strings, '
        "got int 5\n"
        "  hint: chant activities shows each signature",
        id="helm-values-a-number",
    ),
    pytest.param(
        "step",
        'kubectl_apply("m.yaml", wait="yes")',
        'op "deploy": step "go.1": argument "wait" must be true or false, got '
        "str 'yes'\n"
        "  hint: chant activities shows each signature",
        id="kubectl-wait-a-string",
    ),
]

PROFILE_VALUES = [
    pytest.param(
        "retry=Retry(backoff_coefficient=0.5)",
        'op "deploy": step "go.1" profile retry backoff_coefficient: must be '
        "from 1 to 100, got 0.5\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="backoff-below-one",
    ),
    pytest.param(
        "retry=Retry(backoff_coefficient=-2)",
        'op "deploy": step "go.1" profile retry backoff_coefficient: must be '
        "from 1 to 100, got -2\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="backoff-negative",
    ),
    pytest.param(
        'retry=Retry(backoff_coefficient=float("nan"))',
        'op "deploy": step "go.1" profile retry backoff_coefficient: must be '
        "from 1 to 100, got nan\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="backoff-nan",
    ),
    pytest.param(
        "retry=Retry(backoff_coefficient=1e308)",
        'op "deploy": step "go.1" profile retry backoff_coefficient: must be '
        "from 1 to 100, got 1e+308\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="backoff-1e308",
    ),
    pytest.param(
        'retry=Retry(backoff_coefficient=float("inf"))',
        'op "deploy": step "go.1" profile retry backoff_coefficient: must be '
        "from 1 to 100, got inf\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="backoff-inf",
    ),
    pytest.param(
        'retry=Retry(backoff_coefficient="2")',
        'op "deploy": step "go.1" profile retry backoff_coefficient: must be a '
        "number, got str '2'\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="backoff-a-string",
    ),
    pytest.param(
        "retry=Retry(max_attempts=10**30)",
        'op "deploy": step "go.1" profile retry max_attempts: must be 0 '
        "(unlimited) to 2147483647, got 1000000000000000000000000000000\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="attempts-10-to-the-30",
    ),
    pytest.param(
        "retry=Retry(max_attempts=-1)",
        'op "deploy": step "go.1" profile retry max_attempts: must be 0 '
        "(unlimited) to 2147483647, got -1\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="attempts-negative",
    ),
    pytest.param(
        "retry=Retry(max_attempts=True)",
        'op "deploy": step "go.1" profile retry max_attempts: must be an '
        "integer, got bool True\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="attempts-a-bool",
    ),
    pytest.param(
        "retry=Retry(max_attempts=2.0)",
        'op "deploy": step "go.1" profile retry max_attempts: must be an '
        "integer, got float 2.0\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="attempts-a-float",
    ),
    pytest.param(
        'retry=Retry(initial_interval="1e400s")',
        'op "deploy": step "go.1" profile retry initial_interval: bad duration '
        "'1e400s': write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d",
        id="interval-1e400s",
    ),
    pytest.param(
        'retry=Retry(initial_interval="0s")',
        'op "deploy": step "go.1" profile retry initial_interval: \'0s\' must be '
        "at least 1ms\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="interval-zero",
    ),
    pytest.param(
        "retry=Retry(initial_interval=1)",
        'op "deploy": step "go.1" profile retry initial_interval: must be a '
        'duration string such as "30s", got int 1\n'
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="interval-a-number",
    ),
    pytest.param(
        'retry=Retry(initial_interval="10s", maximum_interval="1s")',
        'op "deploy": step "go.1" profile retry maximum_interval: \'1s\' is '
        "shorter than initial_interval '10s'\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="maximum-below-initial",
    ),
    pytest.param(
        'retry=Retry(maximum_interval="1000000d")',
        'op "deploy": step "go.1" profile retry maximum_interval: duration '
        "'1000000d' is longer than the limit of 36500d (100 years)\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="maximum-a-million-days",
    ),
    pytest.param(
        'retry=Retry(non_retryable_error_types="Boom")',
        'op "deploy": step "go.1" profile retry non_retryable_error_types: must '
        "be a list of error type names, got str 'Boom'\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="non-retryable-a-string",
    ),
    pytest.param(
        "retry=Retry(non_retryable_error_types=[5])",
        'op "deploy": step "go.1" profile retry non_retryable_error_types: must '
        "be a list of error type names, got tuple (5,)\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="non-retryable-a-number-in-the-list",
    ),
    pytest.param(
        'timeout="9" * 400 + "s"',
        'op "deploy": step "go.1" profile timeout: duration '
        "'9999999999999999999999999999999999999999…' is longer than the limit of "
        "36500d (100 years)\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="timeout-infinite-digits",
    ),
    pytest.param(
        'timeout="36501d"',
        'op "deploy": step "go.1" profile timeout: duration \'36501d\' is longer '
        "than the limit of 36500d (100 years)\n"
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="timeout-over-100-years",
    ),
    pytest.param(
        'timeout="0ms"',
        'op "deploy": step "go.1" profile timeout: \'0ms\' must be at least 1ms\n'
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="timeout-zero",
    ),
    pytest.param(
        'timeout="0.5ms"',
        'op "deploy": step "go.1" profile timeout: \'0.5ms\' must be at least 1ms\n'
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="timeout-under-1ms",
    ),
    pytest.param(
        "heartbeat_timeout=60",
        'op "deploy": step "go.1" profile heartbeat_timeout: must be a duration '
        'string such as "30s", got int 60\n'
        "  hint: docs/ops.md lists each profile field and its bounds",
        id="heartbeat-a-number",
    ),
    pytest.param(
        'heartbeat_timeout="-1s"',
        'op "deploy": step "go.1" profile heartbeat_timeout: bad duration \'-1s\': '
        "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d",
        id="heartbeat-negative-text",
    ),
]


@pytest.mark.parametrize(("kind", "text", "message"), WRONG_TYPES)
def test_a_wrong_type_or_value_in_any_dsl_field_is_rejected_at_its_line(
    kind: str, text: str, message: str, make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/deploy.op.py": mistake(kind, text)})
    expected = one_problem(f"ops/deploy.op.py:2: {message}")
    if text.startswith("name="):  # then chant cannot tell this is the Op asked for
        expected = (
            'no Op named "deploy"; it may be defined at ops/deploy.op.py:2, where chant could '
            f"not load an Op:\nops/deploy.op.py:2: {message}\n"
            "  hint: fix the problems above and run again (`chant build` lists every problem)"
        )
    assert_rejected(chant("run", "deploy", "--local", cwd=root), root, expected)


@pytest.mark.parametrize(("text", "message"), PROFILE_VALUES)
def test_a_profile_value_that_cannot_work_is_rejected_at_its_line(
    text: str, message: str, make_project: MakeProject, chant: Chant
) -> None:
    root = make_project(
        {"ops/deploy.op.py": mistake("step", f'shell("x", profile=Profile({text}))')}
    )
    assert_rejected(
        chant("run", "deploy", "--local", cwd=root),
        root,
        one_problem(f"ops/deploy.op.py:2: {message}"),
    )


@pytest.mark.parametrize("command", [["build"], ["list"], ["list", "--json"]])
def test_build_and_list_reject_a_wrong_type_as_run_does(
    command: list[str], make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/deploy.op.py": mistake("op", 'search_attributes=["a"]')})
    ran = chant(*command, cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == "chant: error: " + one_problem(
        "ops/deploy.op.py:2: op \"deploy\": search_attributes must be a dict, got list ['a']\n"
        '  hint: write {"Name": "value", ...}\n'
    )
    assert not (root / "dist").exists()


DEEP = 'activity("shell", cmd=deep)'
LOOP = 'activity("shell", cmd=loop)'


def test_arguments_nested_too_deeply_are_rejected_not_a_crash(
    make_project: MakeProject, chant: Chant
) -> None:
    source = (
        TYPED_HEAD
        + 'deep = "x"\nfor _ in range(100):\n    deep = [deep]\n'
        + f'deploy = Op(name="deploy", phases=[{MARK}, phase("Go", [{DEEP}])])\n'
    )
    root = make_project({"ops/deploy.op.py": source})
    assert_rejected(
        chant("build", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:5: op "deploy": step "go.1": arguments nest deeper than 64 levels'
        ),
    )


def test_an_argument_list_that_contains_itself_is_rejected_not_a_crash(
    make_project: MakeProject, chant: Chant
) -> None:
    source = (
        TYPED_HEAD
        + "loop = []\nloop.append(loop)\n"
        + f'deploy = Op(name="deploy", phases=[{MARK}, phase("Go", [{LOOP}])])\n'
    )
    root = make_project({"ops/deploy.op.py": source})
    assert_rejected(
        chant("build", cwd=root),
        root,
        one_problem(
            'ops/deploy.op.py:4: op "deploy": step "go.1": arguments nest deeper than 64 levels'
        ),
    )


# --- op files with side effects at import time --------------------------------------
# chant imports every *.op.py for build, list and run: what a file does at import must
# not end, split or hang chant, nor write into its stdout.

ESCAPE_HINT = (
    "  hint: chant imports every *.op.py to find its Ops; a file only declares, "
    "so do this in a step"
)


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("import os\nos._exit(0)\n", "it called os._exit(0) while being imported"),
        ("import os\nos._exit(3)\n", "it called os._exit(3) while being imported"),
        ("import os\nos.abort()\n", "it called os.abort() while being imported"),
        (
            "import os\nos.execv('/bin/true', ['true'])\n",
            "it called os.execv('/bin/true', ['true']) while being imported",
        ),
        (
            "import os\nos.execlp('true', 'true')\n",
            "it called os.execlp('true', 'true') while being imported",
        ),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
            "it sent signal 9 to chant itself while being imported",
        ),
        (
            "import signal\nsignal.raise_signal(signal.SIGTERM)\n",
            "it raised signal 15 in chant while being imported",
        ),
    ],
    ids=["os._exit-0", "os._exit-3", "abort", "execv", "execlp", "kill-self", "raise-signal"],
)
@pytest.mark.parametrize("command", [["build"], ["list", "--json"], ["run", "good", "--local"]])
def test_an_op_file_that_would_end_or_replace_chant_is_reported_not_obeyed(
    code: str, problem: str, command: list[str], make_project: MakeProject, chant_proc: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD, "ops/broken.op.py": code})
    ran = chant_proc(*command, cwd=root)
    if command[0] == "run":  # only good must be valid: chant survives, warns and runs it
        assert ran.code == 0, ran.err
        assert ran.err.startswith(
            f"chant: warning: ops/broken.op.py:2: {problem}\n{ESCAPE_HINT}\n"
            'chant: warning: 1 problem elsewhere in the project (above); running "good" '
            "anyway (`chant build` checks every Op)\n"
        )
        assert (root / "ran.marker").exists()
        return
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == "chant: error: " + one_problem(
        f"ops/broken.op.py:2: {problem}\n{ESCAPE_HINT}\n"
    )
    assert not (root / "ran.marker").exists()
    assert not (root / "dist").exists()


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("import sys\nsys.exit(0)\n", "0"),
        ("import sys\nsys.exit()\n", ""),
        ("import sys\nsys.exit('bye')\n", "'bye'"),
        ("import sys\nsys.exit(None)\n", ""),
        ("x = 1\nexit(0)\n", "0"),
        ("x = 1\nquit(5)\n", "5"),
        ("x = 1\nraise SystemExit(2)\n", "2"),
    ],
    ids=["zero", "no-code", "a-string", "none", "exit-builtin", "quit-builtin", "raise"],
)
def test_an_op_file_calling_sys_exit_with_any_code_is_reported(
    code: str, shown: str, make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD, "ops/broken.op.py": code})
    assert_rejected(
        chant("build", cwd=root),
        root,
        one_problem(
            f"ops/broken.op.py:2: it called sys.exit({shown}) while being imported\n"
            "  hint: chant imports every *.op.py to find its Ops; a file only declares, "
            "so remove the exit"
        ),
    )


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("x = 1\nraise KeyboardInterrupt\n", "it raised KeyboardInterrupt while being imported"),
        ("x = 1\nraise GeneratorExit('x')\n", "GeneratorExit while importing: x"),
        (
            "class Stop(BaseException):\n    pass\nraise Stop('halt')\n",
            "Stop while importing: halt",
        ),
        (
            "class Odd(Exception):\n    def __str__(self):\n        raise ValueError\n"
            "raise Odd()\n",
            "Odd while importing: (its message cannot be shown: Odd.__str__ failed)",
        ),
    ],
    ids=["keyboard-interrupt", "generator-exit", "base-exception", "unprintable"],
)
def test_an_op_file_raising_any_base_exception_is_reported(
    code: str, problem: str, make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD, "ops/broken.op.py": code})
    ran = chant("build", cwd=root)
    line = code.count("\n")
    assert ran.code == 2, ran.err
    assert ran.err.startswith(
        f"chant: error: 1 problem in the project:\nops/broken.op.py:{line}: {problem}\n"
    )
    assert "Traceback" not in ran.err
    assert not (root / "ran.marker").exists()


def test_an_op_file_that_forks_is_reported_and_nothing_runs_twice(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    forks = "import os\nif os.fork() == 0:\n    pass\n" + GOOD.replace("good", "forked")
    root = make_project({"ops/good.op.py": GOOD, "ops/forks.op.py": forks})
    ran = chant_proc("build", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == "chant: error: " + one_problem(
        f"ops/forks.op.py:2: it called os.fork() while being imported\n{ESCAPE_HINT}\n"
    )
    ran = chant_proc("run", "good", "--local", cwd=root)
    assert ran.code == 0, ran.err
    assert ran.err.startswith(
        "chant: warning: ops/forks.op.py:2: it called os.fork() while being imported\n"
    )
    assert ran.out.count('Op "good" completed') == 1


def test_an_op_file_using_multiprocessing_at_import_is_reported(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    code = "import multiprocessing\n\nmultiprocessing.Process(target=print).start()\n"
    root = make_project({"ops/good.op.py": GOOD, "ops/mp.op.py": code})
    ran = chant_proc("build", cwd=root)
    assert ran.code == 2
    assert "ops/mp.op.py:3: it called os.fork() while being imported" in ran.err
    assert "Traceback" not in ran.err


def test_what_an_op_file_prints_goes_to_stderr_and_list_json_stays_json(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    noisy = (
        "import os, sys\nprint('hello from print')\nsys.stdout.write('hello from write\\n')\n"
        "os.system('echo hello from a command')\nsys.stdout.close()\n"
    ) + GOOD.replace("good", "noisy")
    root = make_project({"ops/noisy.op.py": noisy})
    ran = chant_proc("list", "--json", cwd=root)
    assert ran.code == 0, ran.err
    assert [row["name"] for row in json.loads(ran.out)] == ["noisy"]
    for text in ("hello from print", "hello from write", "hello from a command"):
        assert text in ran.err
    built = chant_proc("run", "noisy", "--local", "--json", cwd=root)
    assert built.code == 0, built.err
    assert json.loads(built.out)["op"] == "noisy"


def test_an_op_file_that_changes_directory_does_not_move_chant(
    make_project: MakeProject, chant: Chant
) -> None:
    root = make_project({"ops/a.op.py": "import os\nos.chdir('/')\n" + GOOD})
    ran = chant("build", cwd=root)
    assert ran.code == 0, ran.err
    assert (root / "dist" / "ops" / "good.op.json").is_file()


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("import time\n\ntime.sleep(3600)\n", 3),
        ("x = 1\nwhile True: x += 1\n", 2),
        ("import threading\n\nthreading.Event().wait()\n", 3),
    ],
    ids=["sleep", "busy-loop", "wait-forever"],
)
def test_an_op_file_whose_import_never_returns_is_stopped_and_named(
    code: str, line: int, make_project: MakeProject, chant_proc: Chant
) -> None:
    root = make_project({"ops/good.op.py": GOOD, "ops/stuck.op.py": code})
    started = time.monotonic()
    ran = chant_proc("build", cwd=root, env={"CHANT_IMPORT_TIMEOUT": "1"})
    assert time.monotonic() - started < 10
    assert (ran.code, ran.out) == (2, "")
    problem = (
        f"ops/stuck.op.py:{line}: importing it took longer than 1s\n"
        "  hint: make the import finish sooner, or raise CHANT_IMPORT_TIMEOUT (seconds)\n"
    )
    assert ran.err == "chant: error: " + one_problem(problem)
    assert not (root / "dist").exists()
    ran = chant_proc("run", "good", "--local", cwd=root, env={"CHANT_IMPORT_TIMEOUT": "1"})
    assert ran.code == 0, ran.err
    assert ran.err.startswith("chant: warning: " + problem)
    assert (root / "ran.marker").exists()


def test_an_op_file_that_swallows_the_timeout_still_ends_with_exit_2(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    code = (
        "import time\nwhile True:\n    try:\n        time.sleep(60)\n"
        "    except BaseException:\n        pass\n"
    )
    root = make_project({"ops/good.op.py": GOOD, "ops/stubborn.op.py": code})
    started = time.monotonic()
    ran = chant_proc("run", "good", "--local", cwd=root, env={"CHANT_IMPORT_TIMEOUT": "1"})
    assert time.monotonic() - started < 15
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        "chant: error: ops/stubborn.op.py: importing it took longer than 1s, and it ignored "
        "being stopped\n"
        "  hint: make the import finish sooner, or raise CHANT_IMPORT_TIMEOUT (seconds)\n"
    )
    assert not (root / "ran.marker").exists()


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "1e9"])
def test_a_bad_chant_import_timeout_is_a_usage_error(
    value: str, make_project: MakeProject, chant: Chant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANT_IMPORT_TIMEOUT", value)
    root = make_project({"ops/good.op.py": GOOD})
    assert_rejected(
        chant("run", "good", "--local", cwd=root),
        root,
        f"CHANT_IMPORT_TIMEOUT={value!r} is not a number of seconds from 0 to 86400\n"
        "  hint: e.g. CHANT_IMPORT_TIMEOUT=60, or 0 for no bound (default 30)",
    )


def test_an_activity_module_that_exits_at_import_is_reported(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = make_project(
        {
            "chant.toml": '[project]\nops = ["ops"]\nactivities = ["acts"]\n',
            "acts.py": "import os\n\nos._exit(0)\n",
            "ops/good.op.py": GOOD,
        }
    )
    ran = chant_proc("build", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert "acts.py:3: it called os._exit(0) while being imported" in ran.err
    # good uses none of its activities: for `chant run good` it is a warning.
    ran = chant_proc("run", "good", "--local", cwd=root)
    assert ran.code == 0, ran.err
    assert "chant: warning: acts.py:3: it called os._exit(0) while being imported" in ran.err
    assert (root / "ran.marker").exists()


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("op", 'search_attributes={"WorkflowId": "x"}'),
        ("step", 'shell("x", profile=Profile(retry=Retry(max_attempts=10**30)))'),
        ("step", 'shell("x", env={"A": 1})'),
        ("phase", 'phase("Go", [shell("x")], parallel="yes")'),
    ],
    ids=["reserved-search-attribute", "huge-max-attempts", "env-int", "parallel-yes"],
)
def test_a_bad_definition_is_exit_2_on_temporal_too_before_connecting(
    kind: str, text: str, make_project: MakeProject, chant: Chant
) -> None:
    # Nothing listens at port 1: reaching for Temporal would be exit 3, not 2.
    toml = '[temporal.profiles.dev]\naddress = "127.0.0.1:1"\nauto_start = false\n'
    root = make_project({"chant.toml": toml, "ops/deploy.op.py": mistake(kind, text)})
    ran = chant("run", "deploy", "--temporal", cwd=root)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.startswith("chant: error: 1 problem in the project:\nops/deploy.op.py:2: ")
    assert "Traceback" not in ran.err
