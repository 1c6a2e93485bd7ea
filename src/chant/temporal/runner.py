"""``chant run NAME --temporal``: start the Op's workflow and follow it.

The run's events come from the workflow's ``events_after`` query and go to the same
sinks (renderers) as a local run's, so the output is the same.

Ctrl-C (SIGINT, SIGTERM, SIGHUP) means what it means locally when the worker is in
this process: the run is cancelled (running steps stop, ``on_failure`` runs) and
followed to its end; a second one detaches. With ``--no-worker`` the first detaches:
the workflow keeps running on the cluster, on the workers serving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from chant.activities.registry import Registry
from chant.activities.stopping import on_stop
from chant.config import TemporalProfile
from chant.errors import AlreadyRunningError, IRTooLargeError
from chant.events import Event, RunResult, Sink
from chant.ir import JSON, ActivityStep, GateStep, Op, Profile
from chant.profiles import MAX_DURATION, parse_duration
from chant.temporal.connect import connect, ensure_search_attributes
from chant.temporal.follow import Followed as Followed  # re-exported: bench/temporal.py
from chant.temporal.follow import follow as follow
from chant.temporal.memo import params_memo, plan_memo, with_defaults
from chant.temporal.rpc import translated
from chant.temporal.walker import TIMEOUT_SLACK
from chant.temporal.workflow import (
    LEFT_OUT,
    OP_KEY,
    WORKFLOW_NAME,
    workflow_input,
)

PROJECT_KEY = SearchAttributeKey.for_keyword("ChantProject")
UNLIMITED = 30 * 24 * 3600.0
"""What a step with unlimited attempts adds to a run's execution timeout."""


def workflow_id(project: str, op_name: str) -> str:
    """``chant-<project id>-op-<name>``: the id of the Op's runs started by ``chant run``
    (a Schedule's runs have Temporal's start time appended)."""
    return f"chant-{project}-op-{op_name}"


def runs_query(project: str, op_name: str) -> str:
    """The visibility query for the Op's runs in this project (and no other's)."""
    from chant.temporal.connect import OP_ATTRIBUTE, PROJECT_ATTRIBUTE

    return f"{OP_ATTRIBUTE} = '{op_name}' AND {PROJECT_ATTRIBUTE} = '{project}'"


def worker_command(profile: TemporalProfile, task_queue: str, default: str | None) -> str:
    """The ``chant worker`` command line that polls ``task_queue`` on ``profile``'s cluster
    (``default`` is the project's default profile name)."""
    command = "chant worker"
    if profile.name != (default or "default"):
        command += f" --profile {profile.name}"
    if task_queue != profile.task_queue:
        command += f" --task-queue {task_queue}"
    return command


PAYLOAD_LIMIT = 2 * 1024 * 1024
"""Temporal's default limit on one payload (the server's ``limit.blobSize.error``,
2 MiB); a workflow input over it is refused by the server."""


def check_payload_size(op: Op, params: Mapping[str, JSON] | None = None) -> None:
    """Refuse, before anything starts, an Op whose IR (with the parameter values)
    Temporal would refuse as input."""
    from temporalio.converter import default

    [payload] = default().payload_converter.to_payloads([workflow_input(op, params)])
    size = payload.ByteSize()
    if size > PAYLOAD_LIMIT:
        what = "IR and parameter values take" if params else "IR is"
        raise IRTooLargeError(
            f'op "{op.name}": its {what} {size:,} bytes ({size / 2**20:.1f} MiB), over '
            f"Temporal's limit of {PAYLOAD_LIMIT:,} bytes (2 MiB) for a workflow's input",
            hint="split it into smaller Ops, or move large arguments"
            + (" and parameter values" if params else "")
            + " into files its steps read",
        )


def execution_timeout(op: Op) -> timedelta:
    """An upper bound on the whole run, so that no run can stay open forever."""
    total = 3600.0
    for phase, _ in op.all_phases():
        for step in phase.steps:
            if isinstance(step, GateStep):
                total += parse_duration(step.timeout)
            elif isinstance(step, ActivityStep) and isinstance(step.profile, Profile):
                retry = step.profile.retry
                if retry.max_attempts <= 0:  # unlimited attempts: bounded by a month
                    total += UNLIMITED
                    continue
                wait = parse_duration(retry.maximum_interval or retry.initial_interval) * 100
                per = parse_duration(step.profile.timeout) + TIMEOUT_SLACK
                total += retry.max_attempts * per + (retry.max_attempts - 1) * wait
    # Huge (valid) profiles add up past what Temporal or timedelta can hold.
    return timedelta(seconds=min(total, MAX_DURATION))


def search_attributes(op: Op, project: str) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(OP_KEY, op.name),
        SearchAttributePair(PROJECT_KEY, project),
    ]
    for key, value in op.search_attributes.items():
        pairs.append(SearchAttributePair(SearchAttributeKey.for_keyword(key), value))
    return TypedSearchAttributes(pairs)


async def find_open_run(
    client: Client, project: str, op_name: str
) -> WorkflowHandle[Any, Any] | None:
    """The Op's open run in ``project``, started by ``chant run`` or by a Schedule, if
    there is one."""
    handle = client.get_workflow_handle(workflow_id(project, op_name))
    try:
        described = await handle.describe()
        if described.status == WorkflowExecutionStatus.RUNNING:
            return client.get_workflow_handle(handle.id, run_id=described.run_id)
    except RPCError:
        pass
    query = f"{runs_query(project, op_name)} AND ExecutionStatus = 'Running'"
    async for wf in client.list_workflows(query, limit=1):
        return client.get_workflow_handle(wf.id, run_id=wf.run_id)
    return None


def _already_running(op: Op, wid: str) -> AlreadyRunningError:
    return AlreadyRunningError(
        f'Op "{op.name}" is already running (workflow {wid}); '
        "a second run cannot start until it ends",
        hint=f"follow it with `chant status {op.name}`, or stop it with `chant cancel {op.name}`",
    )


async def start(
    client: Client,
    op: Op,
    *,
    project: str,
    task_queue: str,
    params: Mapping[str, JSON] | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start ``chant-<project>-op-<name>`` with the parameter values ``params`` (checked
    and complete); refused while a run of the Op is open (a scheduled one included)."""
    wid = workflow_id(project, op.name)
    params = with_defaults(op, params)
    check_payload_size(op, params)
    running = await find_open_run(client, project, op.name)
    if running is not None:
        raise _already_running(op, running.id)
    try:
        return await client.start_workflow(
            WORKFLOW_NAME,
            workflow_input(op, params),
            id=wid,
            task_queue=task_queue,
            execution_timeout=execution_timeout(op),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=search_attributes(op, project),
            memo=params_memo(params) | plan_memo(op, params),
        )
    except WorkflowAlreadyStartedError as exc:
        raise _already_running(op, wid) from exc


async def run_temporal(
    op: Op,
    registry: Registry,
    profile: TemporalProfile,
    *,
    root: Any,
    project: str,
    sinks: list[Sink],
    no_worker: bool,
    say: Callable[[str], None],
    default_profile: str | None = None,
    params: Mapping[str, JSON] | None = None,
) -> Followed:
    """Start the Op's workflow in ``project`` (with a worker in this process unless
    ``no_worker``) and follow it to its end. ``params`` are the run's parameter values,
    already checked and complete (defaults filled in); the workflow checks them again.

    With the worker in this process, the first Ctrl-C / SIGTERM / SIGHUP cancels the
    run and follows its compensation, and a second one detaches; with ``no_worker`` the
    first detaches."""
    check_payload_size(op, params)
    client = await connect(profile, root=root)
    await ensure_search_attributes(client, profile, tuple(op.search_attributes))
    task_queue = op.task_queue or profile.task_queue
    hint = worker_command(profile, task_queue, default_profile)
    worker = None
    if not no_worker:
        from chant.temporal.worker import build_worker

        worker = build_worker(client, registry, task_queue=task_queue)
    stop = asyncio.Event()
    """Set to stop following (detach)."""
    cancel = asyncio.Event()
    """Set to cancel the run (with the worker in this process only)."""

    def on_signal() -> None:
        if worker is None or cancel.is_set():
            stop.set()
        else:
            cancel.set()

    run = _Run(client, op, project, sinks, say, task_queue, hint, stop, cancel, params or {})
    with on_stop(on_signal), translated(profile):
        if worker is not None:
            from chant.activities import guard

            try:
                async with worker:
                    return await run.start_and_follow(in_process=True)
            finally:
                from chant.activities import reap
                from chant.temporal.walker import KILL_GRACE

                await reap.sweep_leftovers(KILL_GRACE)  # as chant worker does when it stops
                guard.disable()
        return await run.start_and_follow(in_process=False)


@dataclass
class _Run:
    """One ``chant run --temporal``: start the workflow, follow it, and act on Ctrl-C."""

    client: Client
    op: Op
    project: str
    sinks: list[Sink]
    say: Callable[[str], None]
    task_queue: str
    worker: str
    """The ``chant worker`` command serving ``task_queue``."""
    stop: asyncio.Event
    cancel: asyncio.Event
    params: Mapping[str, JSON]
    """The run's parameter values."""
    compensating: bool = False
    """Whether the run's on_failure has started (a Ctrl-C then stops it)."""
    seen: int = 0
    """The last event the follower has shown."""

    def _watch(self, event: Event) -> None:
        self.seen = event.seq
        if event.type == "compensation_started":
            self.compensating = True

    async def _compensating_now(self, handle: WorkflowHandle[Any, Any]) -> bool:
        """Whether on_failure has started, also when the follower has not shown it yet."""
        from temporalio.client import WorkflowQueryFailedError

        if not self.compensating:
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                newer = await handle.query("events_after", self.seen)
                self.compensating = any(e.get("type") == "compensation_started" for e in newer)
        return self.compensating

    async def start_and_follow(self, *, in_process: bool) -> Followed:
        op = self.op
        handle = await start(
            self.client, op, project=self.project, task_queue=self.task_queue, params=self.params
        )
        canceller = asyncio.ensure_future(self._cancel_when_asked(handle))
        try:
            followed = await follow(
                handle,
                [*self.sinks, self._watch],
                stop=self.stop,
                say=self.say,
                task_queue=self.task_queue,
                worker=self.worker,
            )
        finally:
            canceller.cancel()
        if followed.result is not None:
            followed.result = with_args(followed.result, op)
        if followed.detached and in_process:
            self.say(
                f"chant: interrupted again — detached; workflow {handle.id} stays open on "
                "Temporal with its cancellation requested, and the worker in this process "
                "has stopped: nothing stops its steps or runs on_failure until a worker "
                f"polls task queue {self.task_queue}: start one with `{self.worker}`\n"
                f"  follow it: chant status {op.name}\n"
                f"  end it now, without on_failure: chant cancel {op.name} --force"
            )
        elif followed.detached:
            self.say(
                f"chant: detached — workflow {handle.id} keeps running on Temporal "
                f"(it needs a worker on task queue {self.task_queue}: `{self.worker}`)\n"
                f"  follow it: chant status {op.name}\n"
                f"  cancel it: chant cancel {op.name}"
            )
        return followed

    async def _cancel_when_asked(self, handle: WorkflowHandle[Any, Any]) -> None:
        """On the first Ctrl-C, cancel the run as ``chant cancel`` does; the follower
        goes on and shows the compensation."""
        await self.cancel.wait()
        if await self._compensating_now(handle):
            self.say(
                f"chant: interrupted during on_failure — cancelling workflow {handle.id}: "
                "stopping its running steps, skipping the rest of on_failure (Ctrl-C again "
                "to detach)"
            )
        else:
            then = ", then running on_failure" if self.op.on_failure else ""
            self.say(
                f"chant: interrupted — cancelling workflow {handle.id}: stopping running "
                f"steps{then} (Ctrl-C again to detach)"
            )
        with contextlib.suppress(RPCError):  # it closed meanwhile: the follower has it
            await handle.cancel()


def with_args(result: RunResult, op: Op) -> RunResult:
    """``result`` with the step arguments a big run record left out put back from the
    Op's IR (they are the IR's, shown as a record shows them, secrets by name; see
    ``workflow.RECORD_LIMIT``)."""
    if not any(s.args == LEFT_OUT for s in result.steps):
        return result
    from chant.planned import Plan

    args = {s.id: s.shown_args for s in Plan.of(op).steps if s.gate is None}
    steps = tuple(
        replace(s, args=args.get(s.id, s.args)) if s.args == LEFT_OUT else s for s in result.steps
    )
    return replace(result, steps=steps)


def flush_and_exit(code: int) -> None:
    """End the process now, after flushing output.

    temporalio can crash the interpreter at exit after a run has already succeeded
    (sdk-python issue 300); leaving through ``os._exit`` keeps the run's exit code."""
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
