"""The plan document: what a run of an Op with given parameter values would do, as data.

``plan_document(plan, params)`` is what ``chant plan --json`` prints (docs/cli.md,
"chant plan"): every phase and step in order, arguments with the parameter values put in
and references left as the Op wrote them, profiles, conditions decided as far as the
parameters decide them, gates, the ``on_failure`` phases, and the worst-case time
budget. ``digest`` is the sha256 of its canonical JSON: the run shows the same digest
(``run_started.plan_digest``), so a run can be matched to the plan that was reviewed.

Pure: no clock, no file, no environment, so Temporal's workflow sandbox computes the
digest of the plan it walks exactly as ``chant plan`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from chant.errors import UnresolvedReferenceError
from chant.flow import Scope, evaluate, partial, why_false
from chant.jsontypes import JSON
from chant.planned import Plan, PlannedPhase, PlannedStep, Timing
from chant.refs import ref_kind, refs_in, text

PLAN_VERSION = 1
"""The ``v`` of a plan document; raised when its shape changes incompatibly."""


def plan_document(plan: Plan, params: Mapping[str, JSON]) -> dict[str, JSON]:
    """The plan of ``plan`` run with ``params`` (checked, defaults filled in), with its
    ``digest``. Key order is the documented one; the digest does not depend on it."""
    made = _Made(Scope(params), {})
    phases = [_phase(p, made) for p in plan.phases]
    on_failure = [_phase(p, made) for p in plan.on_failure]
    main_s = _sum(p["budget_s"] for p in phases)
    comp_s = _sum(p["budget_s"] for p in on_failure)
    gates = [
        s["gate"]["timeout_s"]
        for p in (*phases, *on_failure)
        if not _skipped(p)
        for s in p["steps"]
        if s["gate"] is not None and not _skipped(s)
    ]
    doc: dict[str, JSON] = {
        "v": PLAN_VERSION,
        "op": plan.name,
        "overview": plan.op.overview,
        "digest": "",
        "params": dict(params),
        "secrets": sorted(plan.secrets),
        "schedule": plan.op.schedule,
        "phases": phases,
        "on_failure": on_failure,
        "budget": {
            "main_s": main_s,
            "on_failure_s": comp_s,
            "total_s": None if main_s is None or comp_s is None else main_s + comp_s,
            "gates_s": sum(gates),
        },
    }
    doc["digest"] = digest(doc)
    return doc


def plan_digest(plan: Plan, params: Mapping[str, JSON]) -> str:
    """The digest ``chant plan`` shows for ``plan`` with ``params``."""
    return str(plan_document(plan, params)["digest"])


def _sha256() -> Callable[[bytes], Any]:
    """The C SHA-256 that ships with CPython (``_sha2``, ``_sha256`` before 3.12):
    ``hashlib`` would load OpenSSL for it, 6 ms of every run's start-up."""
    import importlib

    for name in ("_sha2", "_sha256"):
        try:
            return importlib.import_module(name).sha256  # type: ignore[no-any-return]
        except ImportError:
            continue
    import hashlib  # a Python built without them has OpenSSL's

    return hashlib.sha256


_SHA256 = _sha256()


def digest(doc: Mapping[str, JSON]) -> str:
    """``sha256:`` and the hex sha256 of ``doc`` without its ``digest``, as canonical
    JSON (``canonical``), UTF-8."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    hashed = _SHA256(canonical(body).encode("utf-8", "surrogatepass"))
    return "sha256:" + str(hashed.hexdigest())


try:  # CPython's C escaper, as json uses it; importing json itself costs a run more
    from _json import encode_basestring as _quoted
except ImportError:  # pragma: no cover - another Python
    _ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}
    _ESCAPES |= {"\f": "\\f"} | {
        chr(c): f"\\u{c:04x}" for c in range(0x20) if chr(c) not in "\n\r\t\b\f"
    }
    _SPECIAL = str.maketrans(_ESCAPES)

    def _quoted(text: str, /) -> str:
        return '"' + text.translate(_SPECIAL) + '"'


def canonical(value: JSON) -> str:
    """``value`` as canonical JSON: exactly ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` (a test holds them equal), written here
    because a local run of shell steps does not otherwise load ``json``. Floats that are
    not finite are refused, as ``allow_nan=False`` refuses them."""
    return _canonical(value, {})


def _canonical(value: Any, seen: dict[int, str]) -> str:
    """``canonical``; an object met again (a profile steps share) is written once."""
    kind = type(value)
    if kind is str:
        return _quoted(value)
    if kind is dict:
        done = seen.get(id(value))
        if done is None:
            items = sorted(value.items())
            inner = ",".join(_key(k) + ":" + _canonical(v, seen) for k, v in items)
            done = seen[id(value)] = "{" + inner + "}"
        return done
    if kind is list or kind is tuple:
        return "[" + ",".join(_canonical(v, seen) for v in value) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"a plan holds no {value!r}: JSON has no such number")
        return float.__repr__(value)
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, Mapping):
        return _canonical(dict(value), seen)
    if isinstance(value, list | tuple):
        return _canonical(list(value), seen)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _key(key: object) -> str:
    if type(key) is not str:
        raise TypeError(f"a JSON object's keys are strings, not {type(key).__name__}")
    return _quoted(key)


def _skipped(node: Any) -> bool:
    when = node["when"]
    return when is not None and when["holds"] is False


def _sum(values: Any) -> float | None:
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


# -- phases and steps -------------------------------------------------------------------


class _Made(NamedTuple):
    """What a document is made with: the parameters, and the profile and budget
    documents of each ``Timing`` (steps share their profile's), made once a document:
    ``canonical`` then writes each once too."""

    scope: Scope
    timings: dict[int, tuple[dict[str, JSON], dict[str, JSON]]]


def _phase(phase: PlannedPhase, made: _Made) -> dict[str, Any]:
    when = _when(phase.when, made.scope)
    steps = [_step(s, made) for s in phase.steps]
    skipped = when is not None and when["holds"] is False
    # A gate's wait is counted apart (it holds its slot meanwhile, but adds no budget).
    costs = [0.0 if s["gate"] or _skipped(s) else s["budget"]["worst_s"] for s in steps]
    if skipped:
        budget: float | None = 0.0
    elif phase.parallel:
        budget = _makespan(costs, phase.max_concurrency or len(costs) or 1)
    else:
        budget = _sum(costs)
    return {
        "name": phase.name,
        "parallel": phase.parallel,
        "fail_fast": phase.fail_fast,
        "max_concurrency": phase.max_concurrency,
        "compensation": phase.compensation,
        "when": when,
        "budget_s": budget,
        "steps": steps,
    }


def _makespan(costs: Sequence[float | None], slots: int) -> float | None:
    """How long a parallel phase takes when each step takes ``costs`` and at most
    ``slots`` run at once, each started in declared order as a slot frees (as both
    executors start them); None when a step has no limit."""
    if any(c is None for c in costs):
        return None
    if slots >= len(costs):  # every step starts at once
        return max(costs, default=0.0)  # type: ignore[type-var]
    import heapq

    ends = [0.0] * slots  # when each slot frees, earliest first
    for cost in costs:
        heapq.heapreplace(ends, ends[0] + cost)  # type: ignore[operator]
    return max(ends)


def _step(step: PlannedStep, made: _Made) -> dict[str, Any]:
    gate = step.gate
    timing = step.timing
    shared = None
    if timing is not None:
        shared = made.timings.get(id(timing))
        if shared is None:
            shared = made.timings[id(timing)] = (timing.declared.to_dict(), _worst(timing))
    args = step.shown_args
    return {
        "id": step.id,
        "fn": step.fn,
        "args": partial(args, made.scope, only="$param") if step.dynamic else dict(args),
        "profile": shared[0] if shared else None,
        "gate": {
            "signal": gate.signal,
            "timeout": gate.timeout_text,
            "timeout_s": gate.timeout,
            "description": gate.description,
        }
        if gate
        else None,
        "outcome": step.outcome.to_dict() if step.outcome else None,
        "when": _when(step.when, made.scope),
        "budget": shared[1] if shared else None,
    }


def _worst(timing: Timing) -> dict[str, JSON]:
    """A step's worst case: every attempt runs to its timeout and every retry waits its
    full backoff."""
    retry = timing.retry
    attempts = retry.max_attempts
    if attempts == 0:  # unlimited
        return {"attempts": None, "timeout_s": timing.timeout, "waits_s": None, "worst_s": None}
    waits = sum(retry.delay(n) for n in range(1, attempts))
    return {
        "attempts": attempts,
        "timeout_s": timing.timeout,
        "waits_s": waits,
        "worst_s": attempts * timing.timeout + waits,
    }


# -- parameters put in, conditions decided ----------------------------------------------


def with_params(value: Any, params: Mapping[str, JSON]) -> Any:
    """``value`` (an IR value) with each ``{"$param": N}`` replaced by its value and
    every other reference left as written (an ``out()``'s default is no value: it
    stands in only when the run gets there); a ``$format`` whose parts are all known
    becomes its text."""
    return partial(value, Scope(params), only="$param")


def _when(node: JSON, scope: Scope) -> dict[str, JSON] | None:
    if node is None:
        return None
    holds = decide(node, scope)
    return {
        "if": text(node),
        "condition": node,
        "holds": holds,
        "reason": why_false(node, scope) if holds is False else None,
    }


def decide(node: JSON, scope: Scope) -> bool | None:
    """Condition ``node``'s truth as far as the parameters in ``scope`` decide it: True
    or False, or None when it depends on what steps do (or cannot be evaluated)."""
    if isinstance(node, Mapping):
        for key, short in (("$and", False), ("$or", True)):
            if key in node and isinstance(node[key], list):
                found = [decide(n, scope) for n in node[key]]  # type: ignore[union-attr]
                if short in found:
                    return short
                return None if None in found else not short
        if "$not" in node:
            inner = decide(node["$not"], scope)
            return None if inner is None else not inner
    if any(ref_kind(r) != "$param" for r in refs_in(node)):
        return None
    try:
        return evaluate(node, scope)
    except UnresolvedReferenceError:
        return None
