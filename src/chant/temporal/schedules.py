"""Temporal Schedules for the Ops that declare ``schedule``: apply, list, delete.

One Schedule per scheduled Op, with the id ``chant-<project>-schedule-<op>``. Its
action starts the same interpreter workflow as ``chant run --temporal``, with the Op's
IR as it was when applied, on the Op's task queue (or the profile's), with the same
execution timeout and search attributes. Temporal appends the time of each start to
the workflow id (``chant-shop-3fa9c1-op-nightly-2025-01-01T03:00:00Z``), so scheduled
runs are found by their ``ChantOp`` and ``ChantProject`` search attributes, as
``chant history`` does, not by id. A project sees and changes only its own Schedules.

An Op with parameters runs with ``Op.schedule_params``, its defaults filling in the
rest (checked when the project loads: a value missing, unknown, of the wrong type or
outside the choices is an error at the Op's file:line, and nothing is applied); ``apply``
puts the complete values in the action's input and memo (``chant_params``), so
each scheduled run carries them as a run of ``chant run`` does.

The overlap policy is SKIP: while a run the Schedule started is still open, the next
start is skipped — the "one run at a time" rule of ``chant run``. (Temporal only
knows the Schedule's own runs: a run started by hand does not block it.)

``apply`` is idempotent. What it would create is summed up in a fingerprint kept in
the action's memo; an existing Schedule with the same fingerprint is left alone, one
with another is updated (keeping its paused/unpaused state), and the project's
Schedules whose Op is gone, or has no schedule any more, are deleted. A Schedule
changed by other means (the ``temporal`` CLI, the UI) keeps chant's fingerprint, so
``apply`` leaves it as it is; delete it to have it recreated.
Cron expressions are read in UTC.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from chant.config import TemporalProfile
from chant.cron import parse_schedule
from chant.errors import UsageError
from chant.ir import JSON, Op
from chant.names import did_you_mean
from chant.params import check
from chant.temporal.memo import PARAMS_MEMO, params_memo, plan_memo
from chant.temporal.rpc import not_found
from chant.temporal.runner import (
    execution_timeout,
    search_attributes,
    workflow_id,
)
from chant.temporal.workflow import WORKFLOW_NAME, workflow_input

MEMO_KEY = "chant_schedule"
"""The action's memo entry holding the spec text and the fingerprint."""
NEXT_RUNS = 3
"""How many upcoming start times ``list_schedules`` reports."""


def prefix(project: str) -> str:
    """What the ids of ``project``'s Schedules start with."""
    return f"chant-{project}-schedule-"


def schedule_id(project: str, op_name: str) -> str:
    """``chant-<project>-schedule-<op>``: the id of the Op's Schedule."""
    return f"{prefix(project)}{op_name}"


def task_queue(op: Op, profile: TemporalProfile) -> str:
    """The queue the Op's runs go to: its own, else the profile's."""
    return op.task_queue or profile.task_queue


def schedule_spec(text: str) -> ScheduleSpec:
    """``"*/5 * * * *"`` → a cron spec; ``"every 2s"`` → an interval spec.

    Raises ``ValueError`` for anything else (``chant.plan`` reports it while loading)."""
    seconds = parse_schedule(text)
    if seconds is None:
        return ScheduleSpec(cron_expressions=[" ".join(text.split())])
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))])


def scheduled_params(op: Op) -> dict[str, JSON]:
    """The parameter values the Op's scheduled runs get: ``schedule_params`` with the
    defaults of the rest. Loading the project checked them (``chant.flowcheck``); for an
    Op that was not, ``ParamError`` (exit 2) names what does not fit."""
    return check(op, op.schedule_params, label="schedule_params")


def _schedule(op: Op, project: str, queue: str) -> tuple[Schedule, str]:
    """The Schedule ``apply`` wants for ``op``, and its fingerprint."""
    assert op.schedule is not None
    spec_text = " ".join(op.schedule.split())
    params = scheduled_params(op)
    action = ScheduleActionStartWorkflow(
        WORKFLOW_NAME,
        workflow_input(op, params),
        id=workflow_id(project, op.name),
        task_queue=queue,
        execution_timeout=execution_timeout(op),
        typed_search_attributes=search_attributes(op, project),
    )
    schedule = Schedule(
        action=action,
        spec=schedule_spec(spec_text),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    # The SDK's dataclasses spell out every field, the Op's IR and the parameter values
    # included: any change to what chant would send changes the fingerprint.
    fingerprint = hashlib.sha256(repr(schedule).encode()).hexdigest()[:16]
    action.memo = {
        MEMO_KEY: {"schedule": spec_text, "fingerprint": fingerprint},
        **params_memo(params),  # the runs' memo: `chant history` shows the values
        **plan_memo(op, params),
    }
    return schedule, fingerprint


async def _memo(
    client: Client, description: ScheduleDescription, key: str = MEMO_KEY
) -> dict[str, Any]:
    """What chant kept in the action's memo under ``key`` (empty for a Schedule chant
    did not make, or made before it kept that)."""
    action = description.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        return {}
    raw = action.memo.get(key)
    if raw is None:
        return {}
    value = raw
    if not isinstance(raw, Mapping):  # a payload, as described by the server
        (value,) = await client.data_converter.decode([raw])
    return dict(value) if isinstance(value, Mapping) else {}


async def _describe(client: Client, sid: str) -> ScheduleDescription | None:
    """The Schedule ``sid``, or None when there is none."""
    try:
        return await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if not_found(exc):
            return None
        raise


async def _chant_ids(client: Client, project: str) -> list[str]:
    start = prefix(project)
    return sorted([s.id async for s in await client.list_schedules() if s.id.startswith(start)])


async def apply(
    client: Client, ops: Mapping[str, Op], profile: TemporalProfile, project: str
) -> list[tuple[str, str]]:
    """Create, update or delete Schedules so that every Op with a ``schedule`` has one.

    Returns ``(what, schedule id)`` pairs, ``what`` being ``created``, ``updated`` or
    ``unchanged`` for the scheduled Ops (in their order), then ``deleted`` for the
    project's Schedules whose Op is gone or no longer scheduled. Other projects'
    Schedules are left alone. ``ParamError`` before any change when an Op's
    ``schedule_params`` do not fit it (loading the project checks them first).
    """
    for op in ops.values():
        if op.schedule:
            scheduled_params(op)
    done: list[tuple[str, str]] = []
    wanted: set[str] = set()
    for op in ops.values():
        if not op.schedule:
            continue
        sid = schedule_id(project, op.name)
        wanted.add(sid)
        schedule, fingerprint = _schedule(op, project, task_queue(op, profile))
        current = await _describe(client, sid)
        if current is None:
            await client.create_schedule(sid, schedule)
            done.append(("created", sid))
        elif (await _memo(client, current)).get("fingerprint") == fingerprint:
            done.append(("unchanged", sid))
        else:

            def keep_state(given: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                # A Schedule someone paused stays paused.
                state = given.description.schedule.state
                return ScheduleUpdate(schedule=dataclasses.replace(new, state=state))

            await client.get_schedule_handle(sid).update(keep_state)
            done.append(("updated", sid))
    for sid in await _chant_ids(client, project):
        if sid not in wanted and await _delete(client, sid):
            done.append(("deleted", sid))
    return done


async def _delete(client: Client, sid: str) -> bool:
    """Delete the Schedule ``sid``; False when there was none."""
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as exc:
        if not_found(exc):
            return False
        raise
    return True


async def list_schedules(client: Client, project: str) -> list[dict[str, Any]]:
    """Every Schedule of ``project``, by Op name: its spec, where its runs go, the next
    start times (ISO 8601, UTC), how many runs it started (in all, and among the recent
    ones Temporal keeps), how many it skipped because one was open, whether it is
    paused, and ``params``, the parameter values its runs get (only when it gives
    some, as the IR writes ``schedule_params``)."""
    found = []
    start = prefix(project)
    for sid in await _chant_ids(client, project):
        described = await _describe(client, sid)
        if described is None:  # deleted since it was listed
            continue
        action = described.schedule.action
        wf = action if isinstance(action, ScheduleActionStartWorkflow) else None
        info = described.info
        found.append(
            {
                "op": sid.removeprefix(start),
                "schedule_id": sid,
                "spec": (await _memo(client, described)).get("schedule")
                or _spec_text(described.schedule.spec),
                "workflow_id": wf.id if wf else None,
                "task_queue": wf.task_queue if wf else None,
                "paused": described.schedule.state.paused,
                "next_runs": [t.isoformat() for t in info.next_action_times[:NEXT_RUNS]],
                "runs_started": info.num_actions,
                "recent_actions": len(info.recent_actions),
                "skipped_overlap": info.num_actions_skipped_overlap,
            }
        )
        params = await _memo(client, described, PARAMS_MEMO)
        if params:
            found[-1]["params"] = params
    return found


def _spec_text(spec: ScheduleSpec) -> str:
    """A Schedule made outside chant: its spec, as well as it reads in one line."""
    parts = list(spec.cron_expressions)
    parts += [f"every {i.every.total_seconds():g}s" for i in spec.intervals]
    return ", ".join(parts) or f"{len(spec.calendars)} calendar(s)"


async def delete(client: Client, project: str, op_name: str) -> str:
    """Delete the Schedule of ``op_name`` and return its id. A run it already started
    goes on to its end. Exit 2, naming the Schedules there are, when it has none."""
    sid = schedule_id(project, op_name)
    if await _delete(client, sid):
        return sid
    names = [s.removeprefix(prefix(project)) for s in await _chant_ids(client, project)]
    if not names:
        raise UsageError(
            f'no Schedule for Op "{op_name}" ({sid}); this project has no Schedules',
            hint="`chant schedule apply` creates them for the Ops with a schedule",
        )
    raise UsageError(
        f'no Schedule for Op "{op_name}" ({sid}); Schedules: {", ".join(names)}',
        hint=did_you_mean(op_name, names),
    )
