"""Finding *.op.py files and collecting every module-level Op from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chant.config import load_config
from chant.discover import discover, find_op_files
from conftest import MakeProject

OP = """
from chant import Op, phase, shell

{name} = Op(name="{name}", phases=[phase("P", [shell("true")])])
"""


def op_file(name: str) -> str:
    return OP.format(name=name.replace("-", "_"))


def found(root: Path) -> list[str]:
    """The op files found in ``root``, relative to it."""
    files = find_op_files(load_config(root))
    return sorted(str(p.relative_to(root.resolve())) for p in files)


def test_op_files_are_found_at_the_root_and_anywhere_under_ops(make_project: MakeProject) -> None:
    root = make_project({"a.op.py": "", "ops/b.op.py": "", "ops/deep/c.op.py": ""})
    assert found(root) == ["a.op.py", "ops/b.op.py", "ops/deep/c.op.py"]


def test_only_files_ending_in_op_py_are_found(make_project: MakeProject) -> None:
    root = make_project({"ops/a.op.py": "", "ops/helper.py": "", "ops/b.op.json": ""})
    assert found(root) == ["ops/a.op.py"]


def test_project_ops_limits_the_search_to_those_folders(make_project: MakeProject) -> None:
    root = make_project(
        {"chant.toml": '[project]\nops = ["ops"]\n', "ops/a.op.py": "", "elsewhere/b.op.py": ""}
    )
    assert found(root) == ["ops/a.op.py"]


@pytest.mark.parametrize("folder", [".hidden", ".git", "dist", "build", "node_modules"])
def test_tool_and_output_folders_are_skipped(make_project: MakeProject, folder: str) -> None:
    root = make_project({"ops/a.op.py": "", f"{folder}/b.op.py": "", f"ops/{folder}/c.op.py": ""})
    assert found(root) == ["ops/a.op.py"]


def test_a_virtualenv_is_skipped_whatever_its_name(make_project: MakeProject) -> None:
    root = make_project(
        {
            "ops/a.op.py": "",
            "my-tools/pyvenv.cfg": "home = /usr/bin\n",
            "my-tools/lib/python3.11/site-packages/pkg/b.op.py": "",
        }
    )
    assert found(root) == ["ops/a.op.py"]


def test_a_folder_named_env_that_is_not_a_virtualenv_is_searched(
    make_project: MakeProject,
) -> None:
    root = make_project({"ops/env/staging.op.py": ""})
    assert found(root) == ["ops/env/staging.op.py"]


def test_every_module_level_op_in_a_file_is_collected(make_project: MakeProject) -> None:
    root = make_project({"ops/many.op.py": op_file("first") + op_file("second")})
    result = discover(load_config(root))
    assert [op.name for op, _ in result.ops] == ["first", "second"]
    assert result.problems == ()


def test_ops_are_collected_from_every_file(make_project: MakeProject) -> None:
    root = make_project({"ops/a.op.py": op_file("alpha"), "ops/b.op.py": op_file("beta")})
    result = discover(load_config(root))
    assert sorted(op.name for op, _ in result.ops) == ["alpha", "beta"]


def test_each_op_is_paired_with_the_file_it_came_from(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({"ops/a.op.py": op_file("alpha"), "ops/b.op.py": op_file("beta")})
    monkeypatch.chdir(root)
    result = discover(load_config(root))
    assert sorted((op.name, file) for op, file in result.ops) == [
        ("alpha", "ops/a.op.py"),
        ("beta", "ops/b.op.py"),
    ]


def test_ops_made_inside_functions_are_not_collected(make_project: MakeProject) -> None:
    source = """
    from chant import Op, phase, shell

    def make():
        inner = Op(name="inner", phases=[phase("P", [shell("true")])])
        return inner

    outer = Op(name="outer", phases=[phase("P", [shell("true")])])
    """
    root = make_project({"ops/a.op.py": source})
    result = discover(load_config(root))
    assert [op.name for op, _ in result.ops] == ["outer"]


def test_op_files_can_import_helper_modules_from_the_project_root(
    make_project: MakeProject,
) -> None:
    root = make_project(
        {
            "opshelpers.py": "GREETING = 'hi'\n",
            "ops/a.op.py": (
                "from chant import Op, phase, shell\n"
                "from opshelpers import GREETING\n"
                "a = Op(name='a', phases=[phase('P', [shell('echo ' + GREETING)])])\n"
            ),
        }
    )
    result = discover(load_config(root))
    assert result.problems == ()
    assert [op.name for op, _ in result.ops] == ["a"]


def test_a_broken_file_becomes_a_problem_and_the_others_still_load(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(
        {"ops/a.op.py": op_file("alpha"), "ops/b.op.py": "x = 1\nraise KeyError('k')\n"}
    )
    monkeypatch.chdir(root)
    result = discover(load_config(root))
    assert [op.name for op, _ in result.ops] == ["alpha"]
    assert [str(p) for p in result.problems] == [
        "ops/b.op.py:2: KeyError while importing: 'k'\n"
        "  hint: fix the error above; chant imports every *.op.py to find its Ops"
    ]


# --- the guarded import --------------------------------------------------------------


def test_the_guard_puts_back_everything_it_replaced(make_project: MakeProject) -> None:
    import os
    import signal
    import sys

    root = make_project({"ops/a.op.py": "import os\nos._exit(0)\n", "ops/b.op.py": op_file("b")})
    before = (os._exit, os.fork, os.execv, os.kill, signal.raise_signal, sys.stdout)
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGALRM))
    timer, _ = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout may have one running
    result = discover(load_config(root))
    assert [op.name for op, _ in result.ops] == ["b"]
    assert [p.message for p in result.problems] == ["it called os._exit(0) while being imported"]
    assert (os._exit, os.fork, os.execv, os.kill, signal.raise_signal, sys.stdout) == before
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGALRM)) == handlers
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert (left == 0) if timer == 0 else (timer - 5 < left <= timer)


def test_a_timer_set_by_someone_else_keeps_running_after_the_import(
    make_project: MakeProject,
) -> None:
    import signal

    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        discover(load_config(make_project({"ops/b.op.py": op_file("b")})))
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < left <= 30
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert fired == []


def test_a_real_ctrl_c_during_an_import_is_not_taken_for_the_files_own(
    make_project: MakeProject,
) -> None:
    # A SIGINT that arrives while the file imports (here: sent to this thread, as the
    # terminal would) interrupts chant; only a KeyboardInterrupt the file raises itself
    # is charged to the file.
    root = make_project(
        {
            "ops/a.op.py": "import os, signal, threading, time\n"
            "signal.pthread_kill(threading.get_ident(), signal.SIGINT)\n"
            "time.sleep(5)\n"
        }
    )
    with pytest.raises(KeyboardInterrupt):
        discover(load_config(root))


def test_ops_of_a_file_that_failed_are_not_left_in_sys_modules(make_project: MakeProject) -> None:
    import sys

    root = make_project({"ops/a.op.py": "raise ValueError('x')\n"})
    before = {k for k in sys.modules if k.startswith("chant_ops.")}
    discover(load_config(root))
    assert {k for k in sys.modules if k.startswith("chant_ops.")} == before
