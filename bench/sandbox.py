"""What Temporal's workflow sandbox costs a chant run: the first workflow task's latency.

Run it with ``.venv/bin/python bench/sandbox.py [--runs N]`` (needs the ``temporal``
extra). It starts its own dev server on a free loopback port, and one worker in this
process per way of running the sandbox:

- ``chosen``: ``chant.temporal.worker.workflow_runner()``, what chant runs (only the
  modules in ``PASSTHROUGH`` are shared with the sandbox; the workflow, its walker, the
  walk and step outcomes are imported again inside it for each workflow run);
- ``all``: every chant module passed through (what chant did before issue 10);
- ``none``: no chant module passed through (what ``tests/temporal/test_sandbox.py``
  replays with, to check every module).

Each Op run is a new workflow run, which the sandbox prepares on its first task. The
first task's latency is ``WorkflowTaskCompleted - WorkflowTaskStarted`` of the run's
history (server time); medians over ``--runs`` runs of a one-step Op, the modes taking
turns so that drift on a busy machine hits all alike. It measures, it does not test.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from chant.activities.registry import default_registry
from chant.dsl import phase, shell
from chant.ir import Op
from chant.temporal import devserver
from chant.temporal.connect import ensure_search_attributes, pick_profile
from chant.temporal.worker import PASSTHROUGH, make_activity, workflow_runner
from chant.temporal.workflow import WORKFLOW_NAME, ChantOpWorkflow

MODES = {"chosen": PASSTHROUGH, "all": ("chant",), "none": ()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _first_task_ms(client: Client, queue: str) -> float:
    op = Op(name=f"bench-{uuid.uuid4().hex[:8]}", phases=[phase("P", [shell("true")])])
    data = {"op": _built(op)}
    handle = await client.start_workflow(
        WORKFLOW_NAME, data, id=f"chant-bench-{uuid.uuid4().hex}", task_queue=queue
    )
    await handle.result()
    events = [e async for e in handle.fetch_history_events()]
    started = next(e for e in events if e.HasField("workflow_task_started_event_attributes"))
    done = next(e for e in events if e.HasField("workflow_task_completed_event_attributes"))
    delta = done.event_time.ToDatetime() - started.event_time.ToDatetime()
    return delta.total_seconds() * 1000


def _built(op: Op) -> object:
    """``op`` as ``chant build`` writes it: ids assigned and profiles resolved."""
    from chant.errors import Problem
    from chant.plan import resolve_op

    problems: list[Problem] = []
    defaults = default_registry().defaults()
    resolved = resolve_op(op, profiles={}, activities=defaults, problems=problems)
    assert not problems, problems
    return resolved.to_dict()


async def _measure(address: str, runs: int) -> dict[str, list[float]]:
    client = await Client.connect(address, namespace="default")
    root = Path(tempfile.mkdtemp())
    (root / "chant.toml").write_text(
        f'[temporal]\n[temporal.profiles.b]\naddress = "{address}"\nnamespace = "default"\n'
    )
    from chant.config import load_config

    await ensure_search_attributes(client, pick_profile(load_config(root), None))
    registry = default_registry()
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    workers = {
        mode: Worker(
            client,
            task_queue=f"bench-{mode}",
            workflows=[ChantOpWorkflow],
            activities=[make_activity(registry)],
            workflow_runner=workflow_runner(passthrough),
        )
        for mode, passthrough in MODES.items()
    }
    for worker in workers.values():
        await worker.__aenter__()
    try:
        for mode in MODES:  # a first run each, not counted: imports outside the sandbox
            await _first_task_ms(client, f"bench-{mode}")
        for _ in range(runs):
            for mode in MODES:
                samples[mode].append(await _first_task_ms(client, f"bench-{mode}"))
    finally:
        for worker in workers.values():
            await worker.__aexit__(None, None, None)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        info = devserver.start(Path(tmp), f"127.0.0.1:{_free_port()}")
        try:
            samples = asyncio.run(_measure(info.address, runs))
        finally:
            devserver.stop(Path(tmp))
    print(f"first workflow task, ms (median / min of {runs} runs)")
    for mode, values in samples.items():
        print(f"  {mode:7} {statistics.median(values):7.1f} / {min(values):7.1f}")


if __name__ == "__main__":
    main()
