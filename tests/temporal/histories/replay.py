"""Replay recorded histories against the current interpreter workflow.

    python tests/temporal/histories/replay.py [--rename] FILE...

Prints one JSON object per file: {"file": name, "failure": null or the error}. With
``--rename`` the workflow names its activities differently, to show that the check
catches a change. It runs as its own process so that the test process never loads
temporalio (which can crash an interpreter at exit)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


async def main(args: list[str]) -> None:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from chant.temporal import walker, workflow
    from chant.temporal.worker import workflow_runner

    runner = workflow_runner()
    if args and args[0] == "--rename":
        args = args[1:]
        walker.activity_id = lambda step_id: f"renamed-{step_id}"
        # The sandbox imports the walker afresh unless it is passed through: pass chant
        # through, so that the workflow runs the walker patched here.
        runner = workflow_runner(("chant",))
    replayer = Replayer(workflows=[workflow.ChantOpWorkflow], workflow_runner=runner)
    for name in args:
        path = Path(name)
        history = WorkflowHistory.from_json(f"chant-op-{path.stem}", path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = str(result.replay_failure) if result.replay_failure else None
        print(json.dumps({"file": path.name, "failure": failure}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    import os

    os._exit(0)
