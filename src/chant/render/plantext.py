"""``chant plan``'s text: the plan document (``chant.plandoc``) for people.

Every piece of user text (names, commands, values) goes through ``terminal_safe``: a
plan is read on a terminal before anything runs, and must not be able to act on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chant.render import terminal_safe

INDENT = "  "
DETAIL = "      "


def plan_text(doc: Mapping[str, Any]) -> str:
    """The plan, as ``chant plan`` prints it (ends with a newline)."""
    lines = _head(doc)
    phases = doc["phases"]
    for n, phase in enumerate(phases, 1):
        lines += ["", *_phase(phase, f"Phase {n} of {len(phases)}: ")]
    if doc["on_failure"]:
        lines += ["", "On failure (a step failed or the run was interrupted), in this order:"]
        for phase in doc["on_failure"]:
            lines += ["", *_phase(phase, "Phase ")]
    lines += ["", *_budget(doc)]
    return "\n".join(lines) + "\n"


def _safe(text: object) -> str:
    return terminal_safe(str(text))


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _head(doc: Mapping[str, Any]) -> list[str]:
    overview = f": {_safe(doc['overview'])}" if doc["overview"] else ""
    lines = [f"Plan of {_safe(_json(doc['op']))}{overview}", f"digest    {doc['digest']}"]
    if doc["params"]:
        values = ", ".join(f"{k}={_json(v)}" for k, v in doc["params"].items())
        lines.append(f"params    {_safe(values)}")
    if doc["secrets"]:
        lines.append(
            f"secrets   {_safe(', '.join(doc['secrets']))} (names only; read when it runs)"
        )
    if doc["schedule"]:
        lines.append(f"schedule  {_safe(doc['schedule'])} (on Temporal, by `chant schedule apply`)")
    return lines


def _phase(phase: Mapping[str, Any], prefix: str) -> list[str]:
    if phase["parallel"]:
        limit = phase["max_concurrency"]
        how = f"parallel, at most {limit} at once" if limit else "parallel, all at once"
        how += (
            ", fail_fast (a failure stops the others)"
            if phase["fail_fast"]
            else ", each step runs to its end"
        )
    else:
        how = "sequential"
    when = phase["when"]
    cost = "skipped" if when and when["holds"] is False else _up_to(phase["budget_s"])
    gates = [s["gate"]["timeout"] for s in phase["steps"] if s["gate"] and not _skips(s)]
    if gates and cost != "skipped":
        waits = f"{'its gate waits' if len(gates) == 1 else 'its gates wait'} up to "
        waits += " + ".join(gates)
        cost = waits if phase["budget_s"] == 0 else f"{cost}, and {waits}"
    lines = [f"{prefix}{_safe(phase['name'])} — {how} · {cost}"]
    if when:
        lines.append(INDENT + _condition(when))
    for step in phase["steps"]:
        lines += _step(step)
    return lines


def _step(step: Mapping[str, Any]) -> list[str]:
    head = f"{INDENT}{_safe(step['id'])}  "
    gate = step["gate"]
    if gate:
        lines = [
            f"{head}gate  waits for signal {_safe(_json(gate['signal']))} up to {gate['timeout']}"
        ]
        if gate["description"]:
            lines.append(DETAIL + _safe(gate["description"]))
    else:
        lines = _call(head, step["fn"], step["args"])
        lines.append(DETAIL + _profile(step["profile"], step["budget"]))
    if step["outcome"]:
        found = step["outcome"]["from"] or "its result"
        lines.append(f"{DETAIL}outcome {_safe(step['outcome']['name'])} ← {_safe(found)}")
    if step["when"]:
        lines.append(DETAIL + _condition(step["when"]))
    return lines


def _call(head: str, fn: str, args: Mapping[str, Any]) -> list[str]:
    """The step's activity and arguments: a shell command as written (each of its lines),
    then any other argument as ``key=value``; references and secrets as the Op wrote
    them (``out("build", "stdout")``, ``secret("TOKEN")``)."""
    cmd = args.get("cmd")
    if fn == "shell" and (isinstance(cmd, str) or _formatted(cmd)):
        text = cmd if isinstance(cmd, str) else _text(cmd)  # type: ignore[arg-type]
        first, *rest = text.split("\n")
        lines = [f"{head}shell  {_safe(first)}"]
        lines += [" " * len(head) + "       " + _safe(line) for line in rest]
        extra = ", ".join(f"{k}={_value(v)}" for k, v in args.items() if k != "cmd")
        return lines + ([DETAIL + _safe(extra)] if extra else [])
    shown = ", ".join(f"{k}={_value(v)}" for k, v in args.items())
    return [f"{head}{_safe(fn)}  {_safe(shown)}".rstrip()]


def _formatted(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"$format"}


def _text(value: Mapping[str, Any]) -> str:
    """A ``$format`` as text, each reference or secret in braces."""
    return "".join(p if isinstance(p, str) else "{" + _value(p) + "}" for p in value["$format"])


def _value(value: Any) -> str:
    """An argument's value: JSON, but references and secrets as an Op file writes them."""
    from chant.refs import ref_kind, written

    if isinstance(value, Mapping):
        if set(value) == {"$secret"}:
            return f"secret({_json(value['$secret'])})"
        if ref_kind(value):
            return written(value)
        if _formatted(value):
            return "f" + _json(_text(value))
        return "{" + ", ".join(f"{_json(k)}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _json(value)


def _profile(profile: Mapping[str, Any], budget: Mapping[str, Any]) -> str:
    name = f"profile {profile['name']}" if profile["name"] else "profile (inline)"
    retry = profile["retry"]
    attempts = budget["attempts"]
    tries = "unlimited attempts" if attempts is None else _count(attempts, "attempt")
    text = f"{_safe(name)}: {tries} × {profile['timeout']} timeout"
    if attempts is None:
        text += " = no limit"
    elif attempts > 1:
        text += f" + {span(budget['waits_s'])} of backoff = up to {span(budget['worst_s'])}"
    else:
        text += f" = up to {span(budget['worst_s'])}"
    if profile["heartbeat_timeout"]:
        text += f"; heartbeat every {profile['heartbeat_timeout']}"
    if retry["non_retryable_error_types"] and attempts != 1:
        text += "; no retry on " + ", ".join(retry["non_retryable_error_types"])
    return text


def _skips(step: Mapping[str, Any]) -> bool:
    return bool(step["when"]) and step["when"]["holds"] is False


def _condition(when: Mapping[str, Any]) -> str:
    if when["holds"] is False:
        return f"skipped: {_safe(when['reason'])}"
    decided = "holds" if when["holds"] else "decided when it runs"
    return f"if {_safe(when['if'])}: {decided}"


def _budget(doc: Mapping[str, Any]) -> list[str]:
    budget = doc["budget"]
    lines = [
        "Time budget (worst case: every attempt runs to its timeout, every retry waits in full)",
        f"{INDENT}main phases  {_up_to(budget['main_s'])}",
    ]
    if doc["on_failure"]:
        lines.append(f"{INDENT}on_failure   {_up_to(budget['on_failure_s'])}")
    total = budget["total_s"]
    ends = "no limit (a step retries without end)" if total is None else f"up to {span(total)}"
    lines.append(f"{INDENT}in all       {ends} before it gives up")
    if budget["gates_s"]:
        lines.append(
            f"{INDENT}gates        may wait up to {span(budget['gates_s'])} more for their signals"
        )
    return lines


def _up_to(seconds: float | None) -> str:
    return "no limit" if seconds is None else f"up to {span(seconds)}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def span(seconds: float) -> str:
    """A duration for people, exact to the millisecond: ``500ms``, ``1.5s``, ``15m3s``,
    ``1h15m``, ``26h``."""
    ms = round(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    whole, rest = divmod(ms, 1000)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    tail = f"{secs}.{rest:03d}".rstrip("0").rstrip(".") + "s" if rest or secs else ""
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", tail]
    return "".join(parts)
