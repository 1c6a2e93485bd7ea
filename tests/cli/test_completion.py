"""Shell completion: the script ``chant completion SHELL`` prints, run in the real shell,
completes commands, options and the project's Op names; Op files are imported under a
bound, so a broken or slow one costs a moment, never a hang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MakeProject

BIN = str(Path(sys.executable).parent)  # where the real `chant` console script is

OPS = """
from chant import Op, phase, shell

hello = Op(name="hello", phases=[phase("P", [shell("true")])])
deploy_api = Op(name="deploy-api", phases=[phase("P", [shell("true")])])
deploy_web = Op(name="deploy-web", phases=[phase("P", [shell("true")])])
"""
BASH = r"""
eval "$(chant completion bash)"
complete_line() {  # what bash does on TAB, for a line ending where the cursor is
    COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; COMP_TYPE=9
    read -ra COMP_WORDS <<< "$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _python_argcomplete chant
    printf '%s\n' "${COMPREPLY[@]}"
}
complete_line "$LINE"
"""


def env_with_chant() -> dict[str, str]:
    return {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}


def bash_complete(line: str, cwd: Path) -> list[str]:
    ran = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH],
        cwd=cwd,
        env={**env_with_chant(), "LINE": line},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return [w.strip() for w in ran.stdout.splitlines() if w.strip()]


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    return make_project({"ops/all.op.py": OPS})


def test_bash_completes_op_names_after_run(project: Path) -> None:
    assert bash_complete("chant run ", project) == ["hello", "deploy-api", "deploy-web"]
    assert bash_complete("chant run dep", project) == ["deploy-api", "deploy-web"]
    assert bash_complete("chant run deploy-a", project) == ["deploy-api"]


def test_only_names_chant_run_accepts_are_offered(make_project: MakeProject) -> None:
    # "Bad Name" is a validation error, never an Op: completing it (as Bad\ Name) misled.
    bad = 'from chant import Op\n\nx = Op(name="Bad Name", phases=[])\ny = Op(name=3, phases=[])\n'
    root = make_project({"ops/all.op.py": OPS, "ops/bad.op.py": bad})
    assert bash_complete("chant run ", root) == ["hello", "deploy-api", "deploy-web"]


def test_bash_completes_op_names_of_the_temporal_commands(project: Path) -> None:
    for command in ("status", "history", "cancel", "signal"):
        assert bash_complete(f"chant {command} h", project) == ["hello"], command


def test_bash_completes_commands_actions_and_options(project: Path) -> None:
    assert bash_complete("chant ru", project) == ["run"]
    assert bash_complete("chant server st", project) == ["start", "stop", "status"]
    assert bash_complete("chant run hello --js", project) == ["--json"]
    assert bash_complete("chant completion ", project) == ["bash", "zsh", "fish"]
    # Options only once a dash is typed, as git does: Op names are what you want first.
    assert "--local" in bash_complete("chant run hello -", project)


def test_op_files_that_fail_or_hang_are_skipped_within_a_bound(make_project: MakeProject) -> None:
    root = make_project(
        {
            "ops/a_broken.op.py": "raise RuntimeError('nope')\n",
            "ops/b_slow.op.py": "import time\ntime.sleep(60)\n",
            "ops/c_exits.op.py": "import os\nos._exit(3)\n",
            "ops/d_good.op.py": OPS,
        }
    )
    started = time.monotonic()
    assert bash_complete("chant run ", root) == ["hello", "deploy-api", "deploy-web"]
    assert time.monotonic() - started < 20  # 2 s for the slow file, not its 60


def test_outside_a_project_completion_offers_no_names(tmp_path: Path) -> None:
    assert bash_complete("chant run ", tmp_path) == []


def test_zsh_and_fish_get_completions_through_argcomplete(project: Path) -> None:
    # What the zsh and fish scripts ask, made directly: the line, the cursor and the
    # shell in the environment, the answer on file descriptor 8.
    # zsh gets `name:description`, fish `name<TAB>description`; Op names have none.
    for shell, sep, expected in (
        ("zsh", "\x0b", ["deploy-api:", "deploy-web:"]),
        ("fish", "\n", ["deploy-api\t", "deploy-web\t"]),  # name TAB description
    ):
        script = subprocess.run(
            ["chant", "completion", shell],
            env=env_with_chant(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "_ARGCOMPLETE" in script
        line = "chant run dep"
        env = {
            **env_with_chant(),
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_SHELL": shell,
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            **({"_ARGCOMPLETE_IFS": "\n", "_ARGCOMPLETE_DFS": "\t"} if shell == "fish" else {}),
        }
        # As both scripts run it: the answer on fd 8, chant's own stdout and stderr muted.
        ran = subprocess.run(
            ["sh", "-c", "chant 8>&1 9>&2 1>/dev/null 2>&1 </dev/null"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        got = ran.stdout
        assert got.split(sep) == expected, (shell, got)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_op_names(project: Path) -> None:
    ran = subprocess.run(
        ["fish", "--no-config", "-c", 'chant completion fish | source; complete -C "chant run "'],
        cwd=project,
        env=env_with_chant(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["deploy-api", "deploy-web", "hello"]  # fish sorts


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_registers_the_completion(project: Path) -> None:
    ran = subprocess.run(
        [
            "zsh",
            "-f",
            "-c",
            'autoload -U compinit; compinit -u; eval "$(chant completion zsh)"; '
            "print -r -- $_comps[chant]",
        ],
        cwd=project,
        env=env_with_chant(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "_python_argcomplete"
