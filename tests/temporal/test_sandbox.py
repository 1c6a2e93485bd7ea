"""The workflow runs in Temporal's sandbox, which checks the code it imports.

The worker passes through (shares with the sandbox instead of importing again for each
workflow run) the chant modules listed in ``chant.temporal.worker.PASSTHROUGH``: data
types and the pure functions that check an Op. The workflow, its walker, the walk
and step outcomes are imported inside the sandbox, which refuses I/O, the clock and
randomness there. Replaying the recorded runs with nothing passed through checks the
listed modules too. Checks that load temporalio run in a subprocess, as in
``test_replay.py``, so that this process never loads it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import chant

HISTORIES = Path(__file__).parent / "histories"
SRC = Path(chant.__file__).parent

CHECKED = [
    "chant",
    "chant.flow",
    "chant.outcomes",
    "chant.plandoc",
    "chant.temporal",
    "chant.temporal.walker",
    "chant.temporal.workflow",
    "chant.walk",
]
"""The chant modules of the workflow imported inside the sandbox for each run, so that it
checks them: the workflow's own code. Every other module it imports is passed through;
passing one of these through too, or importing a new module in the sandbox, changes
this list."""


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # The SDK core logs its own warnings on stdout; the answer is the last JSON line.
    return [line for line in proc.stdout.splitlines() if line.startswith(("{", "["))][-1]


@pytest.fixture(scope="module")
def sandbox() -> dict[str, Any]:
    """What ``workflow_runner()`` passes through, and the chant modules the workflow
    imports (in a fresh interpreter)."""
    answer: dict[str, Any] = json.loads(
        _python(
            "import json, sys\n"
            "import chant.temporal.workflow\n"
            "used = sorted(m for m in sys.modules if m.startswith('chant'))\n"
            "from temporalio.worker.workflow_sandbox import SandboxRestrictions\n"
            "from chant.temporal.worker import workflow_runner\n"
            "r = workflow_runner().restrictions\n"
            "extra = r.passthrough_modules - SandboxRestrictions.default.passthrough_modules\n"
            "print(json.dumps({'all': r.passthrough_all_modules, 'extra': sorted(extra),\n"
            "                  'used': used}), flush=True)\n"
            "import os; os._exit(0)\n"
        )
    )
    return answer


def test_the_worker_passes_through_all_the_workflow_imports_but_its_own_code(
    sandbox: dict[str, Any],
) -> None:
    assert sandbox["all"] is False
    assert set(sandbox["extra"]) <= set(sandbox["used"])
    assert sorted(set(sandbox["used"]) - set(sandbox["extra"])) == CHECKED


def _chant_imports(module: str) -> set[str]:
    """The chant modules ``module`` imports at its top level (when it is imported)."""
    path = SRC.joinpath(*module.split(".")[1:]).with_suffix(".py")
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chant"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("chant")}
    return found


def test_what_a_passed_through_module_imports_is_passed_through_too(
    sandbox: dict[str, Any],
) -> None:
    """Else the sandbox would hold a second copy of a class (an ``Op`` the planner does
    not recognise as one) and every run would fail as invalid IR."""
    shared = set(sandbox["extra"])
    assert len(shared) >= 10
    outside = {m: sorted(_chant_imports(m) - shared) for m in shared}
    assert {m: found for m, found in outside.items() if found} == {}


def test_every_recorded_run_replays_with_no_chant_module_passed_through() -> None:
    """Every module the workflow imports, imported and run inside the sandbox: none does
    what the sandbox refuses (reading the clock, random numbers, files, subprocesses; any
    ``os`` call while the workflow runs), at import or while a recorded run replays."""
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= 4
    answer = json.loads(
        _python(
            "import asyncio, json, sys\n"
            "from pathlib import Path\n"
            "from temporalio.client import WorkflowHistory\n"
            "from temporalio.worker import Replayer\n"
            "from chant.temporal.workflow import ChantOpWorkflow\n"
            "from chant.temporal.worker import workflow_runner\n"
            "async def main():\n"
            "    r = Replayer(workflows=[ChantOpWorkflow], workflow_runner=workflow_runner(()))\n"
            "    out = {}\n"
            f"    for name in {[str(f) for f in files]!r}:\n"
            "        p = Path(name)\n"
            "        h = WorkflowHistory.from_json(f'chant-op-{p.stem}', p.read_text())\n"
            "        res = await r.replay_workflow(h, raise_on_replay_failure=False)\n"
            "        out[p.name] = str(res.replay_failure) if res.replay_failure else None\n"
            "    print(json.dumps(out), flush=True)\n"
            "asyncio.run(main())\n"
            "import os; os._exit(0)\n"
        )
    )
    assert answer == {f.name: None for f in files}
