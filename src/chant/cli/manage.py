"""``chant signal|status|history|cancel OP``: manage an Op's runs on Temporal.

An adapter over ``chant.api`` (``chant.temporal.inspect`` does the work): it needs
only the project's ``chant.toml`` (for the profile) and the cluster: no op file is
imported, so it works from any machine that can reach the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from chant import api
from chant.errors import ExitCode
from chant.render import LineWriter, terminal_safe


def execute(args: argparse.Namespace) -> int:
    act = {"signal": _signal, "status": _status, "history": _history, "cancel": _cancel}
    return act[args.command](args)


def _runs(args: argparse.Namespace, act: Any) -> Any:
    """What ``act`` does with the project's runs on the ``--profile`` given."""
    debug = getattr(args, "debug", False)
    return api.on_runs(args.command, None, args.profile, act, debug=debug)


def _out(text: str) -> None:
    """Write one line of the human view. Step ids, errors and outcomes in it come from
    step output: control characters (a line break too) are shown, never acted on."""
    LineWriter(sys.stdout)(terminal_safe(text))


def _json(doc: Any) -> None:
    LineWriter(sys.stdout)(json.dumps(doc, indent=2, default=str))  # ASCII: all escaped


def _signal(args: argparse.Namespace) -> int:
    sent = _runs(
        args, lambda runs: runs.signal(args.op, args.signal, approver=args.approver, note=args.note)
    )
    who = f" as {args.approver}" if args.approver else ""
    _out(f'sent "{args.signal}" to {sent["workflow_id"]}{who}')
    return ExitCode.OK


def _status(args: argparse.Namespace) -> int:
    status = _runs(args, lambda runs: runs.status(args.op))
    if args.as_json:
        _json(status)
        return ExitCode.OK
    start = datetime.fromisoformat(status["start"])
    _out(
        f"Op {args.op}: {status['state']} (workflow {status['workflow_id']}, "
        f"run {status['run_id']})"
    )
    _out(f"  started  {start:%Y-%m-%d %H:%M:%S} UTC")
    from chant.params import as_text

    # By name: Temporal's JSON keeps an object's keys sorted (the declared order is lost).
    for name, value in sorted(status.get("params", {}).items()):
        _out(f"  param    {name}={as_text(value)}")  # as `chant run` takes it
    if status.get("plan_digest"):
        _out(f"  plan     {status['plan_digest']}")  # as `chant plan` shows it
    if status.get("note"):
        _out(f"  note     {status['note']}")
    if status.get("phase"):
        _out(f"  phase    {status['phase']}")
    for step in status["steps"]:
        if step["status"] in ("running", "failed", "cancelled"):
            attempts = f", attempt {step['attempts']}" if step["attempts"] > 1 else ""
            _out(f"  step     {step['step']} ({step['fn']}): {step['status']}{attempts}")
        elif step.get("reason"):
            _out(f"  step     {step['step']} ({step['fn']}): {step['status']}: {step['reason']}")
    for gate in status["waiting"]:
        _out(
            f'  waiting  for signal "{gate["signal"]}" at {gate["step"]} since {gate["since"]} '
            f"(up to {gate['timeout']}): chant signal {args.op} {gate['signal']} --approver NAME"
        )
    for a in status["approvals"]:
        note = f" — {a['note']}" if a.get("note") else ""
        _out(f'  approved "{a["signal"]}" by {a.get("approver") or "(unnamed)"} at {a["at"]}{note}')
    from chant.render.text import outcome_text

    for name, value in status["outcomes"].items():
        _out(f"  outcome  {name}={outcome_text(value)}")  # as the run printed it
    return ExitCode.OK


def _history(args: argparse.Namespace) -> int:
    rows = _runs(args, lambda runs: runs.history(args.op, args.limit))
    if args.as_json:
        _json(rows)
        return ExitCode.OK
    if not rows:
        _, profile = api.temporal_target(None, args.profile, args.command)
        _out(f'no runs of "{args.op}" on {profile.address} ({profile.namespace})')
        return ExitCode.OK
    outcomes = [", ".join(r["outcomes"]) or "-" for r in rows]
    params = [params_text(r.get("params") or {}) for r in rows]
    # The PARAMS column only for an Op whose runs had values: others print as before.
    width = max(len("OUTCOMES"), *map(len, outcomes)) if any(params) else 0
    head = f"{'START (UTC)':<20} {'STATUS':<11} {'DURATION':>9}  {'OUTCOMES':<{width}}"
    _out(head + "  PARAMS" if width else head)
    for r, outcome, values in zip(rows, outcomes, params, strict=True):
        start = r["start"][:19].replace("T", " ")
        took = f"{r['duration_s']}s" if r["duration_s"] is not None else "-"
        line = f"{start:<20} {r['status']:<11} {took:>9}  {outcome:<{width}}"
        _out(f"{line}  {values or '-'}" if width else line)
    return ExitCode.OK


VALUE_SHOWN = 40
"""Characters of one parameter value ``chant history`` shows (``--json`` has it all)."""


def params_text(params: dict[str, Any]) -> str:
    """``env=prod targets=a,b version=1.5``: a run's parameter values on one line, by
    name, each as ``chant run`` takes it (``chant.params.as_text``); a value longer than
    ``VALUE_SHOWN`` is cut."""
    if "$left_out" in params:
        return f"(not listed: {params['$left_out']}; `chant status` shows the latest run's)"
    from chant.params import as_text

    parts = []
    for name, value in sorted(params.items()):
        text = as_text(value)
        if len(text) > VALUE_SHOWN:
            text = text[: VALUE_SHOWN - 1] + "…"
        parts.append(f"{name}={text}")
    return " ".join(parts)


def _cancel(args: argparse.Namespace) -> int:
    """Request cancellation (or terminate with ``--force``). A cancel is carried out by a
    worker: when none polls the run's task queue, say that nothing happens until one
    does, and how to proceed. Exit 0 either way: the request is recorded and kept."""
    done = _runs(args, lambda runs: runs.cancel(args.op, force=args.force))
    wid = done["workflow_id"]
    if done["state"] == "terminated":
        _out(f"terminated {wid} (no compensation ran)")
    elif done["state"] == "cancelling":
        _out(f"cancelling {wid}: running steps stop, then on_failure runs")
    else:
        force = f"chant cancel {args.op} --force" + (
            f" --profile {args.profile}" if args.profile else ""
        )
        _out(
            f"cancel requested for {wid}, but no worker serves its task queue "
            f"{done['task_queue']}: nothing happens (no step stops, no on_failure runs) "
            "until one polls it"
        )
        _out(
            f"  start one with `{done['worker']}` to stop the running steps and run "
            f"on_failure, or terminate the run now, without compensation: `{force}`"
        )
    return ExitCode.OK
