"""Builders for the built-in activities: each returns a step calling the activity of
the same name. Arguments left at None are omitted, so the activity's default applies.
Every builder also takes ``profile=`` (a name or ``Profile``; default: the activity's),
``outcome=`` (``"Name"`` or ``Outcome("Name", "dot.path")``), ``id=`` and ``when=`` (a
condition). Any argument may be a reference (``param(…)``, ``out(…)``), also inside an
f-string; its type is then checked when the step starts.

The activities themselves live in ``chant.activities`` and are imported only when a
step runs, so ``import chant`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from chant.ir import JSON, ActivityStep, Outcome, Profile, Secret, caller_origin
from chant.profiles import parse_duration
from chant.refs import is_format, ref_kind

ProfileArg = str | Profile | None
OutcomeArg = str | Outcome | None


def _same(value: JSON) -> JSON:
    return value


def _listed(value: JSON) -> JSON:
    """A list or tuple as a list; anything else unchanged, for the build to report."""
    return list(value) if isinstance(value, list | tuple) else value


def _one_or_listed(value: JSON) -> JSON:
    """A string as a list of that one string; otherwise as ``_listed``."""
    return [value] if isinstance(value, str) else _listed(value)


def _mapped(value: JSON) -> JSON:
    """A mapping as a dict (None when empty); anything else unchanged, for the build to
    report."""
    if isinstance(value, Mapping):
        return dict(value) or None
    return value


def _text(value: object) -> bool:
    return isinstance(value, str | Secret) or _runtime(value)


def _runtime(value: object) -> bool:
    """A reference or an f-string holding one: its value is known when the step starts."""
    return ref_kind(value) is not None or is_format(value)


def _table(ok: type | tuple[type, ...]) -> Callable[[object], bool]:
    """A dict of string keys to strings (or secrets) or values of type ``ok``."""

    def fits(value: object) -> bool:
        return isinstance(value, Mapping) and all(
            isinstance(k, str) and (_text(x) or (isinstance(x, ok) and x is not None))
            for k, x in value.items()
        )

    return fits


def _command(value: object) -> bool:
    return _text(value) or (
        isinstance(value, list | tuple) and bool(value) and all(map(_text, value))
    )


def _texts(value: object) -> bool:
    return isinstance(value, list | tuple) and all(map(_text, value))


def _status(value: object) -> bool:
    codes = value if isinstance(value, list | tuple) else [value]
    return bool(codes) and all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in codes
    )


def _duration(value: object) -> bool:
    try:
        return isinstance(value, str) and parse_duration(value) > 0
    except ValueError:
        return False


class Kind(NamedTuple):
    """A type of built-in argument: ``wanted`` says it in words for the build error,
    ``fits`` checks a value (strings may also be ``secret(...)``), ``shape`` is how a
    builder passes a value on (a tuple as a list, an empty table as nothing). A named
    tuple, not a dataclass: ``import chant`` defines it on every start."""

    wanted: str
    fits: Callable[[object], bool]
    shape: Callable[[JSON], JSON] = _same


TEXT = Kind("a string", _text)
BOOL = Kind("true or false", lambda value: isinstance(value, bool))
COMMAND = Kind("a string or a non-empty list of strings", _command, _listed)
TEXTS = Kind("a list of strings", _texts, _one_or_listed)
ENV = Kind("a dict of string keys to string values", _table(()), _mapped)
VALUES = Kind(
    "a dict of string keys to strings, numbers or booleans", _table((int, float, bool)), _mapped
)
STATUS = Kind("an HTTP status code (100-599) or a list of them", _status, _listed)
DURATION = Kind("a duration string such as 2s", _duration)

REQUIRED: Any = object()
"""The default of an argument a call must give."""


class Arg(NamedTuple):
    """One argument of a built-in activity: its ``kind`` and its ``default`` (``REQUIRED``
    when it has none). An argument whose default is None may also be given as None."""

    kind: Kind
    default: Any = REQUIRED


# The arguments of each built-in activity, in order: the one declaration the builders
# below, the activities in chant.activities and the build's type checks must agree with
# (tests/test_builtins_contract.py holds them to it). Types are checked at build time so
# that a wrong one is a build error at the step's line rather than a run-time failure
# after retries.
BUILTIN_ARGS: dict[str, dict[str, Arg]] = {
    "shell": {"cmd": Arg(TEXT), "env": Arg(ENV, None), "cwd": Arg(TEXT, None)},
    "build": {"path": Arg(TEXT, "."), "command": Arg(COMMAND, None)},
    "teardown": {"path": Arg(TEXT, "."), "command": Arg(COMMAND, None)},
    "kubectl_apply": {
        "manifest": Arg(TEXT),
        "namespace": Arg(TEXT, None),
        "context": Arg(TEXT, None),
        "server_side": Arg(BOOL, False),
        "wait": Arg(BOOL, False),
        "prune_selector": Arg(TEXT, None),
    },
    "helm_install": {
        "release": Arg(TEXT),
        "chart": Arg(TEXT),
        "namespace": Arg(TEXT, None),
        "values": Arg(TEXTS, ()),
        "set": Arg(VALUES, None),
        "version": Arg(TEXT, None),
        "wait": Arg(BOOL, True),
        "create_namespace": Arg(BOOL, False),
    },
    "wait_for_rollout": {
        "kind": Arg(TEXT),
        "name": Arg(TEXT),
        "namespace": Arg(TEXT, None),
        "context": Arg(TEXT, None),
    },
    "http_check": {
        "url": Arg(TEXT),
        "method": Arg(TEXT, "GET"),
        "status": Arg(STATUS, None),
        "contains": Arg(TEXT, None),
        "interval": Arg(DURATION, "2s"),
        "within": Arg(DURATION, "1m"),
        "headers": Arg(ENV, None),
    },
    "state_snapshot": {"env": Arg(TEXT)},
    "state_diff": {"env": Arg(TEXT), "against": Arg(TEXT, "previous")},
}


_COMMAND_RESULT: dict[str, Any] = {
    "path": "str",
    "command": ["str"],
    "exit_code": "int",
    "stdout": "str",
    "stderr": "str",
}
# What each built-in activity returns, as a shape (chant.shapes): the build checks the
# path of each out("step", "path") against it. tests/test_data_flow_build.py holds the
# activities to it.
BUILTIN_RESULTS: dict[str, Any] = {
    "shell": {"exit_code": "int", "stdout": "str", "stderr": "str"},
    "build": _COMMAND_RESULT,
    "teardown": _COMMAND_RESULT,
    "kubectl_apply": {"manifest": "str", "applied": ["str"], "pruned": ["str"], "stdout": "str"},
    "helm_install": {"release": "str", "chart": "str", "namespace": "str", "stdout": "str"},
    "wait_for_rollout": {"kind": "str", "name": "str", "ready": "bool", "stdout": "str"},
    "http_check": {"status": "int", "elapsed_ms": "int", "attempts": "int"},
    "state_snapshot": {"env": "str", "path": "str", "digest": "str", "resources": "int"},
    "state_diff": {
        "drifted": "bool",
        "added": ["str"],
        "removed": ["str"],
        "changed": ["str"],
        "summary": "str",
    },
}


def builtin_arg_problems(fn: str, args: Mapping[str, object]) -> list[str]:
    """Why each argument of a call to built-in activity ``fn`` has the wrong type."""
    declared = BUILTIN_ARGS.get(fn, {})
    found = []
    for key, value in args.items():
        arg = declared.get(key) if isinstance(key, str) else None
        if (
            arg is None
            or (value is None and arg.default is None)
            or _runtime(value)
            or arg.kind.fits(value)
        ):
            continue
        try:
            shown = repr(value)
        except Exception:
            shown = "?"
        shown = shown if len(shown) <= 40 else shown[:40] + "…"
        found.append(
            f'argument "{key}" must be {arg.kind.wanted}, got {type(value).__name__} {shown}'
        )
    return found


def _step(fn: str, given: Mapping[str, Any]) -> ActivityStep:
    """The step a builder of built-in ``fn`` returns for its arguments ``given`` (its
    ``locals()``): each argument shaped as its kind says, those left at None omitted so
    the activity's default applies."""
    args = {name: arg.kind.shape(given[name]) for name, arg in BUILTIN_ARGS[fn].items()}
    outcome = given["outcome"]
    return ActivityStep(
        fn=fn,
        args={k: v for k, v in args.items() if v is not None},
        id=given["id"],
        profile=given["profile"],
        outcome=Outcome(outcome) if isinstance(outcome, str) else outcome,
        when=given["when"],
        origin=caller_origin(2),
    )


def build(
    path: str | Secret = ".",
    command: Sequence[str | Secret] | str | Secret | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """Build the project folder ``path``. ``command`` wins (a list runs without a shell,
    a string with ``/bin/sh -c``); otherwise chant.toml → ``chant build``, Makefile →
    ``make``, package.json → ``npm run build``, pyproject.toml → ``python -m build``.
    Default profile: fast_idempotent."""
    return _step("build", locals())


def teardown(
    path: str | Secret = ".",
    command: Sequence[str | Secret] | str | Secret | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """The inverse of ``build``: ``command``, else (for a chant project) ``chant run
    teardown`` / ``make teardown`` / ``npm run teardown``. Default profile: long_infra."""
    return _step("teardown", locals())


def kubectl_apply(
    manifest: str | Secret,
    namespace: str | Secret | None = None,
    context: str | Secret | None = None,
    server_side: bool = False,
    wait: bool = False,
    prune_selector: str | Secret | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """``kubectl apply -f manifest``. A missing manifest file fails at once with
    ManifestNotFoundError. Default profile: long_infra."""
    return _step("kubectl_apply", locals())


def helm_install(
    release: str | Secret,
    chart: str | Secret,
    namespace: str | Secret | None = None,
    values: Sequence[str | Secret] | str = (),
    set: Mapping[str, str | int | float | bool | Secret] | None = None,
    version: str | Secret | None = None,
    wait: bool = True,
    create_namespace: bool = False,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """``helm upgrade --install release chart``. Default profile: long_infra."""
    return _step("helm_install", locals())


def wait_for_rollout(
    kind: str | Secret,
    name: str | Secret,
    namespace: str | Secret | None = None,
    context: str | Secret | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """``kubectl rollout status kind/name``. A terminal failure (e.g.
    ProgressDeadlineExceeded) raises the non-retryable ReadinessFailedError.
    Default profile: k8s_wait."""
    return _step("wait_for_rollout", locals())


def http_check(
    url: str | Secret,
    method: str | Secret = "GET",
    status: int | Sequence[int] | None = None,
    contains: str | Secret | None = None,
    interval: str = "2s",
    within: str = "1m",
    headers: Mapping[str, str | Secret] | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """Poll ``url`` every ``interval`` until the response matches (``status``, default any
    2xx; ``contains``, a substring of the body) or ``within`` runs out. Returns
    ``{status, elapsed_ms, attempts}``. Default profile: fast_idempotent."""
    return _step("http_check", locals())


def state_snapshot(
    env: str | Secret,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """Run ``[environments.<env>] observe`` and store its JSON under ``.chant/state/<env>/``.
    Returns ``{env, path, digest, resources}``. Default profile: fast_idempotent."""
    return _step("state_snapshot", locals())


def state_diff(
    env: str | Secret,
    against: str | Secret = "previous",
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
    when: object = None,
) -> ActivityStep:
    """Compare the latest snapshot of ``env`` with the previous one (``against="previous"``)
    or a fresh observation (``"live"``). Returns ``{drifted, added, removed, changed,
    summary}``. Default profile: fast_idempotent."""
    return _step("state_diff", locals())
