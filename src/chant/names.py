"""Names and values as chant's messages show them, and the checks every name passes.

Pure functions: where a declaration is (``file:line`` relative to the current folder),
the slug of a phase, "did you mean" hints, a user's value in a message, what makes a
name or a search attribute unusable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def relative(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the current directory) when it lies
    beneath it, else as given: how chant shows a path in a message."""
    try:
        return str(path.relative_to(Path.cwd() if base is None else base))
    except ValueError:
        return str(path)


def where(origin: str | None) -> str | None:
    """An origin ``/abs/file.py:12`` shown relative to the current directory."""
    if not origin:
        return None
    path, _, line = origin.rpartition(":")
    if not path or not line.isdigit() or not os.path.isabs(path):
        return origin
    rel = os.path.relpath(path)
    return f"{path if rel.startswith('..') else rel}:{line}"


def slug(name: str) -> str:
    """``"Roll out App"`` → ``"roll-out-app"``: the phase part of a step id."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "phase"


def close_matches(name: str, choices: list[str]) -> list[str]:
    """The choices closest to ``name``: those it starts or ends, then similar ones."""
    import difflib  # only needed on the error path

    close = [c for c in choices if name and (c.startswith(name) or name.startswith(c))]
    similar = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return close + [c for c in similar if c not in close]


def did_you_mean(name: str, choices: list[str]) -> str | None:
    """``did you mean "a" or "b"?`` for the choices close to ``name``; None if none are."""
    close = close_matches(name, choices)
    return "did you mean " + " or ".join(f'"{c}"' for c in close) + "?" if close else None


def suggest(name: str, choices: list[str]) -> str:
    """A hint naming the choices closest to ``name`` (or listing them all)."""
    hint = did_you_mean(name, choices)
    if hint:
        return hint
    return "known: " + ", ".join(choices) if choices else "none are defined"


CONTROL = re.compile(r"[\x00-\x1f\x7f]")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What an environment variable (a secret) and an Op's parameter may be named."""
SECRET_NAME = IDENTIFIER
PARAM_NAME = IDENTIFIER
MAX_ARGS_DEPTH = 64
"""How deeply a step's arguments may nest (lists in dicts in lists ...)."""


def shown(value: object, most: int = 40) -> str:
    """``value`` for an error message: its type and a short repr (never raises)."""
    try:
        text = repr(value)
    except Exception:  # a user object whose __repr__ fails
        text = "?"
    text = text if len(text) <= most else text[:most] + "…"
    return f"{type(value).__name__} {text}"


def short_repr(value: object, most: int = 60) -> str:
    """``repr(value)`` for a message about a user's object: short, and never raising
    (its ``__repr__`` may fail)."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text if len(text) <= most else text[:most] + "…"


def label(value: object) -> str:
    """A name quoted for a message: ``"Deploy"``, or the type and repr when not a string."""
    return f'"{value}"' if isinstance(value, str) and not CONTROL.search(value) else shown(value)


OP_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""What an Op's name may be: lowercase words of letters and digits joined by ``-``."""

MAX_NAME = 200
"""The longest name or id chant accepts: a workflow id, a file name under dist/ops and
Temporal's ids must all hold it."""


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot name a phase, step, signal or outcome (or None): it must be
    a non-empty string of at most 200 characters, with no control characters and no
    space at either end."""
    if not isinstance(value, str):
        return f"must be a string, got {shown(value)}"
    if not value.strip():
        return "must not be empty"
    found = CONTROL.search(value)
    if found:
        return f"{value!r} holds the control character {found.group()!r}"
    if value != value.strip():
        return f"{value!r} has a space at its start or end"
    if len(value) > MAX_NAME:
        return f"is {len(value)} characters long, over the limit of {MAX_NAME}"
    return None


SEARCH_ATTRIBUTE_LIMIT = 2048
"""Bytes (UTF-8) a Keyword search attribute value may hold: Temporal's default limit."""
_RESERVED_ATTRIBUTES = frozenset(
    [
        "BatcherNamespace",
        "BatcherUser",
        "BinaryChecksums",
        "BuildIds",
        "CloseTime",
        "ExecutionDuration",
        "ExecutionStatus",
        "ExecutionTime",
        "HistoryLength",
        "HistorySizeBytes",
        "NamespaceId",
        "ParentWorkflowId",
        "RootWorkflowId",
        "RootRunId",
        "ParentRunId",
        "RunId",
        "StartTime",
        "StateTransitionCount",
        "TaskQueue",
        "WorkflowId",
        "WorkflowType",
    ]
)


def search_attribute_problem(key: str, value: str) -> str | None:
    """Why Temporal (or chant) would refuse ``key=value`` as an Op search attribute."""
    if key in ("ChantOp", "ChantOutcomes", "ChantProject"):
        return "is chant's own (the Op name, its outcomes, its project); pick another name"
    if key in _RESERVED_ATTRIBUTES or key.startswith("Temporal"):
        return "is reserved by Temporal; pick another name"
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > SEARCH_ATTRIBUTE_LIMIT:
        return f"has a value of {size} bytes, over Temporal's limit of {SEARCH_ATTRIBUTE_LIMIT}"
    return None


def is_op_name(name: object) -> bool:
    """Whether ``name`` is a valid Op name, one ``chant run NAME`` could be asked for."""
    return isinstance(name, str) and len(name) <= MAX_NAME and bool(OP_NAME.fullmatch(name))
