"""``chant signal|status|history|cancel OP``: manage an Op's runs on Temporal.

They need only the project's ``chant.toml`` (for the profile) and the cluster: no op
file is imported, so they work from any machine that can reach the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chant.config import Config, TemporalProfile, load_config
from chant.errors import ExitCode, NotRunningError, RuntimeUnavailableError, UsageError
from chant.render import LineWriter, terminal_safe


def execute(args: argparse.Namespace) -> int:
    config = load_config(Path.cwd())
    from chant.temporal.connect import pick_profile, require_temporal, route_sdk_logs

    require_temporal(config, args.command)
    route_sdk_logs(config.root, debug=getattr(args, "debug", False))
    profile = pick_profile(config, args.profile)
    action = {"signal": _signal, "status": _status, "history": _history, "cancel": _cancel}
    from temporalio.service import RPCError

    try:
        code: int = asyncio.run(action[args.command](args, profile, config))
    except RPCError as exc:
        raise RuntimeUnavailableError(
            f"Temporal at {profile.address} (profile {profile.name}) failed: {exc.message}",
            hint="check the cluster (`chant server status` for the dev server)",
        ) from exc
    return code


def _out(text: str) -> None:
    """Write one line of the human view. Step ids, errors and outcomes in it come from
    step output: control characters (a line break too) are shown, never acted on."""
    LineWriter(sys.stdout)(terminal_safe(text))


async def _handle(profile: TemporalProfile, config: Config, op: str) -> tuple[Any, Any]:
    """The client, and a handle on the Op's latest run (an open one first).

    A run started by ``chant run`` has the id ``chant-<project>-op-<name>``; a
    Schedule's runs get a timestamp appended by Temporal, so runs are found by their
    ``ChantOp`` and ``ChantProject`` search attributes, with the plain id as a fallback
    while visibility catches up."""
    from chant.temporal.runner import find_open_run, runs_query, workflow_id

    project = config.project_id
    client, ready = await _client(profile, config.root)
    if not ready:
        return client, client.get_workflow_handle(workflow_id(project, op))
    handle = await find_open_run(client, project, op)
    if handle is not None:
        return client, handle
    plain = client.get_workflow_handle(workflow_id(project, op))
    latest = None
    async for wf in client.list_workflows(runs_query(project, op), limit=1):
        latest = wf
    if latest is not None and latest.id != plain.id:
        with contextlib.suppress(Exception):
            mine = await plain.describe()
            if mine.start_time >= latest.start_time:
                return client, plain
        return client, client.get_workflow_handle(latest.id, run_id=latest.run_id)
    return client, plain


async def _client(profile: TemporalProfile, root: Path) -> tuple[Any, bool]:
    """A client, and whether chant's search attributes are there to find runs by (on a
    loopback cluster they are registered first, as ``chant run`` does)."""
    from chant.temporal.connect import connect, searchable

    client = await connect(profile, root=root)
    return client, await searchable(client, profile)


async def _running(
    profile: TemporalProfile, config: Config, op: str, chosen: str | None = None
) -> tuple[Any, Any]:
    """The handle of the Op's open run; exit 2 when none is running. ``chosen`` is the
    ``--profile`` given, for the hint's command lines."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    client, handle = await _handle(profile, config, op)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotRunningError(op, config, chosen) from exc
        raise
    if described.status != WorkflowExecutionStatus.RUNNING:
        last = described.status.name.lower() if described.status else None
        raise NotRunningError(op, config, chosen, last)
    return client, handle


def _worker(profile: TemporalProfile, config: Config, task_queue: str) -> str:
    """The ``chant worker`` command that serves ``task_queue`` on ``profile``."""
    from chant.temporal.runner import worker_command

    default = config.temporal.default_profile if config.temporal else None
    return worker_command(profile, task_queue, default)


async def _query(
    handle: Any,
    name: str,
    *args: Any,
    timeout: float = 10,
    worker: tuple[TemporalProfile, Config] | None = None,
) -> Any:
    """Query the run; a run no worker answers for is ``RuntimeUnavailableError``, whose
    hint names the ``chant worker`` command for its task queue (given ``worker``)."""
    from datetime import timedelta

    from temporalio.service import RPCError

    try:
        return await handle.query(name, *args, rpc_timeout=timedelta(seconds=timeout))
    except RPCError as exc:
        command = "chant worker"
        if worker is not None:
            with contextlib.suppress(RPCError):
                command = _worker(*worker, (await handle.describe()).task_queue)
        raise RuntimeUnavailableError(
            f"workflow {handle.id} did not answer ({exc.message.splitlines()[0]})",
            hint=f"is a worker running for its task queue? start one with `{command}`",
        ) from exc


async def _signal(args: argparse.Namespace, profile: TemporalProfile, config: Config) -> int:
    _, handle = await _running(profile, config, args.op, args.profile)
    status = await _query(handle, "status", worker=(profile, config))
    gates = [w["signal"] for w in status["waiting"]]
    if args.signal not in gates:
        waiting = f"it waits for: {', '.join(gates)}" if gates else "it waits for no signal now"
        raise UsageError(f'Op "{args.op}" is not waiting for signal "{args.signal}"; {waiting}')
    await handle.signal(
        "gate", {"signal": args.signal, "approver": args.approver, "note": args.note}
    )
    who = f" as {args.approver}" if args.approver else ""
    _out(f'sent "{args.signal}" to {handle.id}{who}')
    return ExitCode.OK


async def _status(args: argparse.Namespace, profile: TemporalProfile, config: Config) -> int:
    from temporalio.service import RPCError, RPCStatusCode

    _, handle = await _handle(profile, config, args.op)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotRunningError(args.op, config, args.profile) from exc
        raise
    state = described.status.name.lower() if described.status else "unknown"
    if state == "running":
        try:
            status = await _query(handle, "status", timeout=3)
        except RuntimeUnavailableError:
            # Queries need a worker; the run itself is fine and resumes when one polls.
            status = _from_record(None) | {"finished": False}
            status["note"] = (
                f"no worker answered: start one with "
                f"`{_worker(profile, config, described.task_queue)}` (task queue "
                f"{described.task_queue})"
            )
    else:
        # A closed run needs no worker: its record is the result (or the failure's details).
        status = _from_record(await _record(handle))
    if args.as_json:
        LineWriter(sys.stdout)(  # ASCII JSON: every control character is escaped
            json.dumps(
                {
                    "op": args.op,
                    "workflow_id": handle.id,
                    "run_id": described.run_id,
                    "state": state,
                    "start": described.start_time.isoformat(),
                    **status,
                },
                indent=2,
                default=str,
            )
        )
        return ExitCode.OK
    _out(f"Op {args.op}: {state} (workflow {handle.id}, run {described.run_id})")
    _out(f"  started  {described.start_time:%Y-%m-%d %H:%M:%S} UTC")
    if status.get("note"):
        _out(f"  note     {status['note']}")
    if status.get("phase"):
        _out(f"  phase    {status['phase']}")
    for step in status["steps"]:
        if step["status"] in ("running", "failed", "cancelled"):
            attempts = f", attempt {step['attempts']}" if step["attempts"] > 1 else ""
            _out(f"  step     {step['step']} ({step['fn']}): {step['status']}{attempts}")
    for gate in status["waiting"]:
        _out(
            f'  waiting  for signal "{gate["signal"]}" at {gate["step"]} since {gate["since"]} '
            f"(up to {gate['timeout']}): chant signal {args.op} {gate['signal']} --approver NAME"
        )
    for a in status["approvals"]:
        note = f" — {a['note']}" if a.get("note") else ""
        _out(f'  approved "{a["signal"]}" by {a.get("approver") or "(unnamed)"} at {a["at"]}{note}')
    from chant.render.human import outcome_text

    for name, value in status["outcomes"].items():
        _out(f"  outcome  {name}={outcome_text(value)}")  # as the run printed it
    return ExitCode.OK


async def _record(handle: Any) -> dict[str, Any] | None:
    """The run record of a closed workflow, when it left one."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError

    try:
        payload = await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause = exc.cause
        if not (isinstance(cause, ApplicationError) and cause.details):
            return None
        payload = cause.details[0]
    if isinstance(payload, dict) and isinstance(payload.get("run"), dict):
        record: dict[str, Any] = payload["run"]
        return record
    return None


def _from_record(record: dict[str, Any] | None) -> dict[str, Any]:
    """The ``status`` query's shape, from a finished run's record."""
    if record is None:
        return {
            "phase": None,
            "steps": [],
            "waiting": [],
            "approvals": [],
            "outcomes": {},
            "finished": True,
        }
    steps = [
        {k: s.get(k) for k in ("step", "fn", "status", "attempts", "phase", "error")}
        | {"step": s["id"]}
        for s in record.get("steps", [])
    ]
    approvals = [
        s["result"]
        for s in record.get("steps", [])
        if s.get("fn") == "gate" and isinstance(s.get("result"), dict)
    ]
    outcomes = {
        s["outcome"]["name"]: s["outcome"]["value"]
        for s in record.get("steps", [])
        if s.get("outcome")
    }
    failed = record.get("failed_step")
    phase = next((s["phase"] for s in record.get("steps", []) if s["id"] == failed), None)
    return {
        "phase": phase,
        "steps": steps,
        "waiting": [],
        "approvals": approvals,
        "outcomes": outcomes,
        "finished": True,
        "error": record.get("error"),
    }


async def _history(args: argparse.Namespace, profile: TemporalProfile, config: Config) -> int:
    from chant.temporal.connect import OUTCOMES_ATTRIBUTE
    from chant.temporal.runner import runs_query

    client, ready = await _client(profile, config.root)
    query = runs_query(config.project_id, args.op)
    found = client.list_workflows(query, limit=max(1, args.limit)) if ready else _none()
    rows = []
    async for wf in found:
        end = wf.close_time
        duration = (end - wf.start_time).total_seconds() if end else None
        outcomes = wf.search_attributes.get(OUTCOMES_ATTRIBUTE, [])
        rows.append(
            {
                "run_id": wf.run_id,
                "status": wf.status.name.lower() if wf.status else "unknown",
                "start": wf.start_time.isoformat(),
                "duration_s": round(duration, 1) if duration is not None else None,
                "outcomes": list(outcomes),
            }
        )
    if args.as_json:
        LineWriter(sys.stdout)(json.dumps(rows, indent=2))  # ASCII: escapes everything
        return ExitCode.OK
    if not rows:
        _out(f'no runs of "{args.op}" on {profile.address} ({profile.namespace})')
        return ExitCode.OK
    _out(f"{'START (UTC)':<20} {'STATUS':<11} {'DURATION':>9}  OUTCOMES")
    for r in rows:
        start = r["start"][:19].replace("T", " ")
        took = f"{r['duration_s']}s" if r["duration_s"] is not None else "-"
        _out(f"{start:<20} {r['status']:<11} {took:>9}  {', '.join(r['outcomes']) or '-'}")
    return ExitCode.OK


CANCEL_TAKEN_UP = 3.0
"""Seconds a worker has to start the workflow task that carries a cancel request."""


async def _taken_up(handle: Any) -> bool:
    """Whether a worker starts on the run's pending workflow task (the cancel request)
    within ``CANCEL_TAKEN_UP`` seconds. A worker that died a moment ago still counts as
    polling for a minute; this tells it from a live one."""
    from temporalio.api.enums.v1 import PendingWorkflowTaskState
    from temporalio.client import WorkflowExecutionStatus

    deadline = asyncio.get_running_loop().time() + CANCEL_TAKEN_UP
    while True:
        described = await handle.describe()
        raw = described.raw_description
        if (
            described.status != WorkflowExecutionStatus.RUNNING
            or not raw.HasField("pending_workflow_task")
            or raw.pending_workflow_task.state
            == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
        ):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def _none() -> AsyncIterator[Any]:
    """No workflows: a cluster without chant's search attributes has none of its runs."""
    for _ in ():
        yield


async def _cancel(args: argparse.Namespace, profile: TemporalProfile, config: Config) -> int:
    """Request cancellation (or terminate with ``--force``). A cancel is carried out by a
    worker: when none polls the run's task queue, say that nothing happens until one
    does, and how to proceed. Exit 0 either way: the request is recorded and kept."""
    from chant.temporal.connect import workers_polling
    from chant.temporal.runner import worker_command

    client, handle = await _running(profile, config, args.op, args.profile)
    if args.force:
        await handle.terminate(reason="chant cancel --force")
        _out(f"terminated {handle.id} (no compensation ran)")
        return ExitCode.OK
    task_queue = (await handle.describe()).task_queue
    await handle.cancel()
    if await workers_polling(client, profile, task_queue) and await _taken_up(handle):
        _out(f"cancelling {handle.id}: running steps stop, then on_failure runs")
        return ExitCode.OK
    default = config.temporal.default_profile if config.temporal else None
    force = f"chant cancel {args.op} --force" + (
        f" --profile {args.profile}" if args.profile else ""
    )
    _out(
        f"cancel requested for {handle.id}, but no worker serves its task queue {task_queue}: "
        "nothing happens (no step stops, no on_failure runs) until one polls it"
    )
    _out(
        f"  start one with `{worker_command(profile, task_queue, default)}` to stop the "
        "running steps and run on_failure, or terminate the run now, without "
        f"compensation: `{force}`"
    )
    return ExitCode.OK
