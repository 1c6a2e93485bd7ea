"""An Op's runs on Temporal: find them, read their status and history, signal and
cancel them. ``chant status|history|signal|cancel`` and ``chant.status`` etc. call it.

It needs only the project's ``chant.toml`` (for the profile) and the cluster: no op
file is imported, so it works from any machine that can reach the cluster. Each
function returns plain data (what ``--json`` prints); rendering is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from chant.config import Config, TemporalProfile
from chant.errors import NotRunningError, UsageError
from chant.ir import Op
from chant.temporal.connect import OUTCOMES_ATTRIBUTE, connect, searchable, workers_polling
from chant.temporal.follow import op_failed_details
from chant.temporal.memo import PARAMS_MEMO, PLAN_MEMO, with_defaults
from chant.temporal.rpc import not_found, unanswered
from chant.temporal.runner import (
    find_open_run,
    runs_query,
    worker_command,
    workflow_id,
)

Handle = WorkflowHandle[Any, Any]

CANCEL_TAKEN_UP = 3.0
"""Seconds a worker has to start the workflow task that carries a cancel request."""


@dataclass
class Runs:
    """The runs of a project's Ops on one cluster."""

    config: Config
    profile: TemporalProfile
    client: Client
    ready: bool
    """Whether chant's search attributes are there to find runs by (on a loopback
    cluster they are registered first, as ``chant run`` does)."""
    chosen: str | None = None
    """The ``--profile`` given, for the command lines of hints."""

    @classmethod
    async def open(
        cls, config: Config, profile: TemporalProfile, chosen: str | None = None
    ) -> Runs:
        client = await connect(profile, root=config.root)
        return cls(config, profile, client, await searchable(client, profile), chosen)

    def worker(self, task_queue: str) -> str:
        """The ``chant worker`` command that serves ``task_queue`` on this profile."""
        default = self.config.temporal.default_profile if self.config.temporal else None
        return worker_command(self.profile, task_queue, default)

    async def latest(self, op: str) -> Handle:
        """A handle on the Op's latest run (an open one first).

        A run started by ``chant run`` has the id ``chant-<project>-op-<name>``; a
        Schedule's runs get a timestamp appended by Temporal, so runs are found by their
        ``ChantOp`` and ``ChantProject`` search attributes, with the plain id as a
        fallback while visibility catches up."""
        project, client = self.config.project_id, self.client
        plain = client.get_workflow_handle(workflow_id(project, op))
        if not self.ready:
            return plain
        handle = await find_open_run(client, project, op)
        if handle is not None:
            return handle
        latest = None
        async for wf in client.list_workflows(runs_query(project, op), limit=1):
            latest = wf
        if latest is not None and latest.id != plain.id:
            with contextlib.suppress(Exception):
                mine = await plain.describe()
                if mine.start_time >= latest.start_time:
                    return plain
            return client.get_workflow_handle(latest.id, run_id=latest.run_id)
        return plain

    async def _describe(self, handle: Handle, op: str) -> Any:
        try:
            return await handle.describe()
        except RPCError as exc:
            if not_found(exc):
                raise NotRunningError(op, self.config, self.chosen) from exc
            raise

    async def running(self, op: str) -> Handle:
        """The handle of the Op's open run; ``NotRunningError`` when none is open."""
        handle = await self.latest(op)
        described = await self._describe(handle, op)
        if described.status != WorkflowExecutionStatus.RUNNING:
            last = described.status.name.lower() if described.status else None
            raise NotRunningError(op, self.config, self.chosen, last)
        return handle

    async def query(self, handle: Handle, name: str, *, timeout: float = 10) -> Any:
        """Query the run; a run no worker answers for is ``RuntimeUnavailableError``,
        whose hint names the ``chant worker`` command for its task queue."""
        try:
            return await handle.query(name, rpc_timeout=timedelta(seconds=timeout))
        except RPCError as exc:
            command = "chant worker"
            with contextlib.suppress(RPCError):
                command = self.worker((await handle.describe()).task_queue)
            raise unanswered(handle.id, exc, command) from exc

    async def status(self, op: str) -> dict[str, Any]:
        """The Op's latest run: ``chant status --json``'s document."""
        handle = await self.latest(op)
        described = await self._describe(handle, op)
        state = described.status.name.lower() if described.status else "unknown"
        if state != "running":
            # A closed run needs no worker: its record is the result (or the failure's).
            view = from_record(await _record(handle))
        else:
            try:
                view = await handle.query("status", rpc_timeout=timedelta(seconds=3))
            except RPCError:
                # Queries need a worker; the run itself is fine and resumes when one polls.
                view = from_record(None) | {"finished": False}
                queue = described.task_queue
                view["note"] = (
                    f"no worker answered: start one with `{self.worker(queue)}` (task "
                    f"queue {queue})"
                )
        if "params" not in view:  # a closed run, or one no worker (of this chant) answers for
            view["params"] = await _params(self.client, handle, described)
        view["plan_digest"] = (await described.memo()).get(PLAN_MEMO)
        return {
            "op": op,
            "workflow_id": handle.id,
            "run_id": described.run_id,
            "state": state,
            "start": described.start_time.isoformat(),
            **view,
        }

    async def history(self, op: str, limit: int = 10) -> list[dict[str, Any]]:
        """The Op's recent runs, newest first: ``chant history --json``'s rows."""
        query = runs_query(self.config.project_id, op)
        found = self.client.list_workflows(query, limit=max(1, limit)) if self.ready else _none()
        rows = []
        async for wf in found:
            memo = await wf.memo()
            params = memo.get(PARAMS_MEMO)
            end = wf.close_time
            duration = (end - wf.start_time).total_seconds() if end else None
            rows.append(
                {
                    "run_id": wf.run_id,
                    "status": wf.status.name.lower() if wf.status else "unknown",
                    "start": wf.start_time.isoformat(),
                    "duration_s": round(duration, 1) if duration is not None else None,
                    "outcomes": list(wf.search_attributes.get(OUTCOMES_ATTRIBUTE, [])),
                    "params": dict(params) if isinstance(params, dict) else {},
                    "plan_digest": memo.get(PLAN_MEMO),
                }
            )
        return rows

    async def signal(
        self, op: str, signal: str, *, approver: str | None = None, note: str | None = None
    ) -> dict[str, Any]:
        """Send ``signal`` to the gate the Op's open run waits at; ``UsageError`` when it
        waits for no such signal."""
        handle = await self.running(op)
        status = await self.query(handle, "status")
        gates = [w["signal"] for w in status["waiting"]]
        if signal not in gates:
            waiting = f"it waits for: {', '.join(gates)}" if gates else "it waits for no signal now"
            raise UsageError(f'Op "{op}" is not waiting for signal "{signal}"; {waiting}')
        await handle.signal("gate", {"signal": signal, "approver": approver, "note": note})
        return {
            "op": op,
            "workflow_id": handle.id,
            "signal": signal,
            "approver": approver,
            "note": note,
        }

    async def cancel(self, op: str, *, force: bool = False) -> dict[str, Any]:
        """Request cancellation of the Op's open run (terminate it with ``force``).

        A cancel is carried out by a worker: ``state`` is ``cancelling`` when one took
        the request up, ``requested`` when none polls the run's task queue (nothing
        happens until one does; ``worker`` is the command that starts one), and
        ``terminated`` with ``force``."""
        handle = await self.running(op)
        done = {"op": op, "workflow_id": handle.id, "task_queue": None, "worker": None}
        if force:
            await handle.terminate(reason="chant cancel --force")
            return done | {"state": "terminated"}
        task_queue = (await handle.describe()).task_queue
        await handle.cancel()
        done |= {"task_queue": task_queue, "worker": self.worker(task_queue)}
        polled = await workers_polling(self.client, self.profile, task_queue)
        if polled and await _taken_up(handle):
            return done | {"state": "cancelling"}
        return done | {"state": "requested"}


async def _record(handle: Handle) -> dict[str, Any] | None:
    """The run record of a closed workflow, when it left one."""
    try:
        payload = await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        payload = op_failed_details(exc)
    if isinstance(payload, dict) and isinstance(payload.get("run"), dict):
        record: dict[str, Any] = payload["run"]
        return record
    return None


async def _params(client: Client, handle: Handle, described: Any) -> dict[str, Any]:
    """The parameter values of a run no worker is asked about: from its memo, else (a
    run started by other means, or values too big for the memo) from its input. Runs
    recorded before Ops had parameters have none: ``{}``."""
    params = (await described.memo()).get(PARAMS_MEMO)
    if isinstance(params, dict) and "$left_out" not in params:
        return params
    with contextlib.suppress(Exception):  # an input chant cannot read has none to show
        async for event in handle.fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            (data,) = await client.data_converter.decode(started.input.payloads)
            given = data.get("params", {}) if isinstance(data, dict) else None
            if not isinstance(given, dict):
                return {}
            with contextlib.suppress(Exception):  # the workflow ran with the defaults too
                return with_defaults(Op.from_dict(data["op"]), given)
            return dict(given)
    return {}


def from_record(record: dict[str, Any] | None) -> dict[str, Any]:
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
    steps = record.get("steps", [])
    failed = record.get("failed_step")
    return {
        "phase": next((s["phase"] for s in steps if s["id"] == failed), None),
        "steps": [
            {k: s.get(k) for k in ("step", "fn", "status", "attempts", "phase", "error")}
            | {"step": s["id"]}
            | ({"reason": s["reason"]} if s.get("reason") else {})
            for s in steps
        ],
        "waiting": [],
        "approvals": [
            s["result"]
            for s in steps
            if s.get("fn") == "gate" and isinstance(s.get("result"), dict)
        ],
        "outcomes": {
            s["outcome"]["name"]: s["outcome"]["value"] for s in steps if s.get("outcome")
        },
        "finished": True,
        "error": record.get("error"),
    }


async def _taken_up(handle: Handle) -> bool:
    """Whether a worker starts on the run's pending workflow task (the cancel request)
    within ``CANCEL_TAKEN_UP`` seconds. A worker that died a moment ago still counts as
    polling for a minute; this tells it from a live one."""
    from temporalio.api.enums.v1 import PendingWorkflowTaskState

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
