"""Record workflow histories for tests/temporal/test_replay.py.

Run it against a dev server when the interpreter workflow changes on purpose (and
say in the commit why old histories no longer replay):

    chant server start   # or any dev server
    python tests/temporal/histories/record.py 127.0.0.1:7233 [NAME...]

It runs a few of the parity scenarios, a gated Op and an Op passing data (parameters,
references, conditions) on Temporal and saves each run's history as JSON next to this
file; with NAMEs, only those.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).parent
PROJECT = HERE.parent.parent / "scenarios" / "project"
OPS = ["happy", "retry-then-success", "exhausted", "fail-fast", "outcomes", "secrets"]
GATED = """
from chant import Op, gate, phase, shell

gated = Op(
    name="gated",
    phases=[phase("Ask", [gate("approve", timeout="30s")]), phase("Do", [shell("echo did")])],
)
"""

PASSING_DATA = """
from chant import Op, Outcome, Param, out, outcome, param, phase, shell

passing_data = Op(
    name="passing-data",
    params={
        "version": Param(str, help="image tag"),
        "env": Param(str, default="staging", choices=["staging", "prod"]),
    },
    phases=[
        phase("Build", [
            shell(f"echo image:{param('version')}", id="build", outcome=Outcome("Image", "stdout")),
        ]),
        phase("Deploy", [
            shell(f"echo deploying {out('build', 'stdout')} to {param('env')}", id="deploy"),
            shell("echo smoke", id="smoke", when=param("env") == "prod"),
        ]),
        phase(
            "Announce",
            [shell(f"echo announced {outcome('Image')}", id="announce")],
            when=param("env") == "staging",
        ),
    ],
)
"""
ARGS = {"passing-data": ["version=2.0"]}
"""The command-line arguments a recorded run gets besides its name."""


async def main(address: str, only: list[str]) -> None:
    from temporalio.client import Client

    client = await Client.connect(address)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("state", "__pycache__"))
        (root / "state").mkdir()
        (root / "ops" / "gated.op.py").write_text(GATED)
        (root / "ops" / "passing_data.op.py").write_text(PASSING_DATA)
        queue = f"record-{uuid.uuid4().hex[:6]}"
        (root / "chant.toml").write_text(
            f'[project]\nops = ["ops"]\nname = "{queue}"\n[temporal]\n[temporal.profiles.rec]\n'
            f'address = "{address}"\ntask_queue = "{queue}"\n'
        )
        env = {**os.environ, "PARITY_TOKEN": "recorded-secret"}
        for name in only or [*OPS, "gated", "passing-data"]:
            cmd = [sys.executable, "-m", "chant", "run", name, *ARGS.get(name, [])]
            cmd += ["--temporal", "--json"]
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL)
            if name == "gated":
                await asyncio.sleep(3)
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "chant",
                        "signal",
                        name,
                        "approve",
                        "--approver",
                        "recorder",
                    ],
                    cwd=root,
                    check=True,
                )
            proc.wait(timeout=120)
            history = await client.get_workflow_handle(f"chant-{queue}-op-{name}").fetch_history()
            (HERE / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name} (exit {proc.returncode})")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7233", sys.argv[2:]))
