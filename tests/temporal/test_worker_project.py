"""A worker serves its project whatever its current directory: its activities get the
project (chant.toml, root) through their context.

The worker's activity runs here under temporalio's ``ActivityEnvironment`` (a fake
workflow handle takes its output signals), in a subprocess whose current directory is
another project, so that this process never loads temporalio."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

MakeProject = Callable[..., Path]

SCRIPT = textwrap.dedent(
    """
    import asyncio, dataclasses, json, os, sys
    from pathlib import Path

    from temporalio.common import RawValue
    from temporalio.converter import DataConverter
    from temporalio.testing import ActivityEnvironment

    from chant.profiles import BUILTIN_PROFILES
    from chant.project import load_project
    from chant.temporal.worker import make_activity

    project = load_project(Path(sys.argv[1]))
    os.chdir(sys.argv[2])


    class Handle:
        async def signal(self, *args, **kwargs):
            pass


    class Client:
        def get_workflow_handle(self, *args, **kwargs):
            return Handle()


    env = ActivityEnvironment(client=Client())
    env.info = dataclasses.replace(env.info, activity_type="state_snapshot")
    payload = DataConverter.default.payload_converter.to_payload(
        {
            "step": "snap.1",
            "profile": BUILTIN_PROFILES["fast_idempotent"].to_dict(),
            "args": {"env": "demo"},
        }
    )
    done = asyncio.run(env.run(make_activity(project.registry), [RawValue(payload)]))
    print(json.dumps(done["result"]), flush=True)
    os._exit(0)
    """
)


def _toml(data: object) -> str:
    code = f"import json; print(json.dumps({data!r}))"
    argv = json.dumps([sys.executable, "-c", code])
    return f"[environments.demo]\nobserve = {argv}\n"


def test_a_state_snapshot_on_the_worker_uses_its_project_not_the_current_folder(
    make_project: MakeProject,
) -> None:
    root = make_project({"chant.toml": _toml({"svc": {"image": "api:1"}})}, folder="served")
    other = make_project({"chant.toml": _toml({"a": 1, "b": 2})}, folder="other")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(other)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["env"] == "demo"
    assert result["resources"] == 1
    assert json.loads((root / result["path"]).read_text()) == {"svc": {"image": "api:1"}}
    assert not (other / ".chant").exists()
