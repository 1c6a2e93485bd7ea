"""``chant schedule apply|list|delete``: the Temporal Schedules of scheduled Ops.

The work is done by ``chant.temporal.schedules``; this module connects, calls it and
prints. ``apply`` loads (and so validates) the project's Ops; ``list`` and ``delete``
need only chant.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from chant.cli.manage import params_text
from chant.config import Config, TemporalProfile, load_config
from chant.errors import ExitCode
from chant.render import LineWriter

if TYPE_CHECKING:
    from temporalio.client import Client

    from chant.ir import Op


def execute(args: argparse.Namespace) -> int:
    config = load_config(Path.cwd())
    from chant.temporal.connect import pick_profile, require_temporal, route_sdk_logs

    require_temporal(config, "schedule")
    route_sdk_logs(config.root, debug=getattr(args, "debug", False))
    profile = pick_profile(config, args.profile)
    from chant.temporal.rpc import translated

    with translated(profile):
        if args.action == "apply":
            from chant.project import load_project

            # Every Op must be valid, its schedule_params too, before anything changes.
            ops = load_project().ops
            return asyncio.run(_apply(config, profile, ops))
        if args.action == "list":
            return asyncio.run(_list(config, profile, as_json=args.as_json))
        return asyncio.run(_delete(config, profile, args.op))


def _out(text: str) -> None:
    LineWriter(sys.stdout)(text)


async def _client(config: Config, profile: TemporalProfile, extra: tuple[str, ...] = ()) -> Client:
    from chant.temporal.connect import connect, ensure_search_attributes

    client = await connect(profile, root=config.root)
    await ensure_search_attributes(client, profile, extra)
    return client


async def _apply(config: Config, profile: TemporalProfile, ops: Mapping[str, Op]) -> int:
    from chant.temporal import schedules
    from chant.temporal.runner import workflow_id

    scheduled = {name: op for name, op in ops.items() if op.schedule}
    # Scheduled runs carry the Ops' own search attributes: the namespace needs them.
    extra = sorted({key for op in scheduled.values() for key in op.search_attributes})
    client = await _client(config, profile, tuple(extra))
    project = config.project_id
    done = await schedules.apply(client, ops, profile, project)
    if not done:
        _out("no Op declares a schedule: nothing to apply")
        return ExitCode.OK
    id_width = max(len(sid) for _, sid in done)
    spec_width = max((len(op.schedule or "") for op in scheduled.values()), default=0)
    queues: list[str] = []
    for what, sid in done:
        name = sid.removeprefix(schedules.prefix(project))
        op = scheduled.get(name)
        if op is None:
            why = (
                f'Op "{name}" has no schedule now'
                if name in ops
                else f'no Op "{name}" in this project'
            )
            _out(f"{what:<9}  {sid:<{id_width}}  ({why})")
            continue
        queue = schedules.task_queue(op, profile)
        queues += [queue] if queue not in queues else []
        values = params_text(schedules.scheduled_params(op))
        _out(
            f"{what:<9}  {sid:<{id_width}}  {op.schedule or '':<{spec_width}}  "
            f"→ {workflow_id(project, name)} on task queue {queue}"
            + (f" with {values}" if values else "")
        )
    if queues:
        _out(
            f"next: keep a `chant worker` polling task queue{'s' if len(queues) > 1 else ''} "
            f"{' and '.join(queues)} — a Schedule "
            "only starts runs, workers run them; re-run `chant schedule apply` after "
            "changing a scheduled Op"
        )
    return ExitCode.OK


async def _list(config: Config, profile: TemporalProfile, *, as_json: bool) -> int:
    from chant.temporal import schedules

    found = await schedules.list_schedules(await _client(config, profile), config.project_id)
    if as_json:
        _out(json.dumps(found, indent=2))
        return ExitCode.OK
    if not found:
        _out(
            f"this project has no Schedules on {profile.address} ({profile.namespace}); "
            "`chant schedule apply` creates them for the Ops with a schedule"
        )
        return ExitCode.OK
    rows: list[tuple[str, ...]] = [
        (
            s["op"],
            s["spec"],
            s["task_queue"] or "-",
            s["next_runs"][0][:19].replace("T", " ") if s["next_runs"] else "-",
            str(s["runs_started"]),
            "paused" if s["paused"] else "active",
        )
        for s in found
    ]
    head: tuple[str, ...] = ("OP", "SCHEDULE", "TASK QUEUE", "NEXT RUN (UTC)", "RUNS", "STATE")
    values = [params_text(s.get("params") or {}) for s in found]
    if any(values):  # the PARAMS column only when a Schedule gives values
        rows = [(*row, v or "-") for row, v in zip(rows, values, strict=True)]
        head = (*head, "PARAMS")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        _out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return ExitCode.OK


async def _delete(config: Config, profile: TemporalProfile, op_name: str) -> int:
    from chant.temporal import schedules

    sid = await schedules.delete(await _client(config, profile), config.project_id, op_name)
    _out(
        f"deleted  {sid} (a run it already started goes on to its end; "
        f"`chant history {op_name}` lists its runs)"
    )
    return ExitCode.OK
