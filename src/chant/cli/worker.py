"""``chant worker``: a standalone Temporal worker for the project.

It runs the interpreter workflow and every activity the project knows (built-ins,
project ``@activity`` functions, installed ``chant.activities``). Scale out by running
more of them, on more machines, against the same cluster and task queue. On SIGTERM
or Ctrl-C it stops: running steps are cancelled (their process groups killed) and
Temporal retries them on another worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chant.config import TemporalProfile
from chant.errors import UsageError
from chant.project import Project, load_project


def execute(args: argparse.Namespace) -> int:
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError("--max-concurrent must be at least 1")
    # One broken op file must not keep the worker from serving the valid Ops.
    project = load_project(strict=False)
    if project.problems:
        from chant.cli.run import count, warn

        warn(project.problems)
        valid = ", ".join(project.valid()) or "none"
        sys.stderr.write(
            f"chant: warning: {count(project.problems)} in the project (above); this worker "
            f"serves only its valid Ops: {valid}\n"
        )
    from chant.temporal.connect import pick_profile, require_temporal, route_sdk_logs

    require_temporal(project.config, "worker")
    profile = pick_profile(project.config, args.profile)
    task_queue = args.task_queue or profile.task_queue
    # Commands and the project's own activities run from the project root, as locally
    # (relative paths); chant's activities find the project through their context.
    os.chdir(project.config.root)
    route_sdk_logs(project.config.root, debug=getattr(args, "debug", False))
    return asyncio.run(_serve(project, profile, task_queue, args.max_concurrent))


async def _serve(
    project: Project, profile: TemporalProfile, task_queue: str, limit: int | None
) -> int:
    from chant.temporal.connect import connect, ensure_search_attributes
    from chant.temporal.worker import build_worker

    client = await connect(profile, root=project.config.root)
    await ensure_search_attributes(client, profile)
    identity = f"{os.getpid()}@{os.uname().nodename}"
    worker = build_worker(
        client, project.registry, task_queue=task_queue, max_concurrent=limit, identity=identity
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    from chant.activities.guard import STOP_SIGNALS

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    ops = ", ".join(project.valid()) or "none found"
    sys.stderr.write(
        f"chant worker {identity}: polling task queue {task_queue} on {profile.address} "
        f"(namespace {profile.namespace}, profile {profile.name}); Ops: {ops}; "
        "Ctrl-C stops it\n"
    )
    sys.stderr.flush()
    from chant.activities import guard

    try:
        async with worker:
            await stop.wait()
            sys.stderr.write("chant worker: stopping — cancelling running steps\n")
            sys.stderr.flush()
    finally:
        from chant.activities import reap
        from chant.temporal.walker import KILL_GRACE

        await reap.sweep_leftovers(KILL_GRACE)
        guard.disable()
    return 0
