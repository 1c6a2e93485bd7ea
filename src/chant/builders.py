"""Builders for the built-in activities: each returns a step calling the activity of
the same name. Arguments left at None are omitted, so the activity's default applies.
Every builder also takes ``profile=`` (a name or ``Profile``; default: the activity's),
``outcome=`` (``"Name"`` or ``Outcome("Name", "dot.path")``) and ``id=``.

The activities themselves live in ``chant.activities`` and are imported only when a
step runs, so ``import chant`` stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chant.ir import JSON, ActivityStep, Outcome, Profile, Secret, _origin
from chant.profiles import parse_duration

ProfileArg = str | Profile | None
OutcomeArg = str | Outcome | None


def _listed(value: object) -> object:
    """A list or tuple as a list; anything else unchanged, for the build to report."""
    return list(value) if isinstance(value, list | tuple) else value


def _mapped(value: object) -> object:
    """A mapping as a dict (None when empty); anything else unchanged, for the build to
    report."""
    if isinstance(value, Mapping):
        return dict(value) or None
    return value


def _step(
    fn: str,
    args: Mapping[str, JSON],
    profile: ProfileArg,
    outcome: OutcomeArg,
    id: str | None,
) -> ActivityStep:
    return ActivityStep(
        fn=fn,
        args={k: v for k, v in args.items() if v is not None},
        id=id,
        profile=profile,
        outcome=Outcome(outcome) if isinstance(outcome, str) else outcome,
        origin=_origin(2),
    )


def build(
    path: str = ".",
    command: Sequence[str] | str | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """Build the project folder ``path``. ``command`` wins (a list runs without a shell,
    a string with ``/bin/sh -c``); otherwise chant.toml → ``chant build``, Makefile →
    ``make``, package.json → ``npm run build``, pyproject.toml → ``python -m build``.
    Default profile: fast_idempotent."""
    return _step("build", {"path": path, "command": _listed(command)}, profile, outcome, id)


def teardown(
    path: str = ".",
    command: Sequence[str] | str | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """The inverse of ``build``: ``command``, else (for a chant project) ``chant run
    teardown`` / ``make teardown`` / ``npm run teardown``. Default profile: long_infra."""
    return _step("teardown", {"path": path, "command": _listed(command)}, profile, outcome, id)


def kubectl_apply(
    manifest: str,
    namespace: str | None = None,
    context: str | None = None,
    server_side: bool = False,
    wait: bool = False,
    prune_selector: str | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """``kubectl apply -f manifest``. A missing manifest file fails at once with
    ManifestNotFoundError. Default profile: long_infra."""
    args = {
        "manifest": manifest,
        "namespace": namespace,
        "context": context,
        "server_side": server_side,
        "wait": wait,
        "prune_selector": prune_selector,
    }
    return _step("kubectl_apply", args, profile, outcome, id)


def helm_install(
    release: str,
    chart: str,
    namespace: str | None = None,
    values: Sequence[str] | str = (),
    set: Mapping[str, str | Secret] | None = None,
    version: str | None = None,
    wait: bool = True,
    create_namespace: bool = False,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """``helm upgrade --install release chart``. Default profile: long_infra."""
    args = {
        "release": release,
        "chart": chart,
        "namespace": namespace,
        "values": [values] if isinstance(values, str) else _listed(values),
        "set": _mapped(set),
        "version": version,
        "wait": wait,
        "create_namespace": create_namespace,
    }
    return _step("helm_install", args, profile, outcome, id)


def wait_for_rollout(
    kind: str,
    name: str,
    namespace: str | None = None,
    context: str | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """``kubectl rollout status kind/name``. A terminal failure (e.g.
    ProgressDeadlineExceeded) raises the non-retryable ReadinessFailedError.
    Default profile: k8s_wait."""
    args = {"kind": kind, "name": name, "namespace": namespace, "context": context}
    return _step("wait_for_rollout", args, profile, outcome, id)


def http_check(
    url: str,
    method: str = "GET",
    status: int | Sequence[int] | None = None,
    contains: str | None = None,
    interval: str = "2s",
    within: str = "1m",
    headers: Mapping[str, str | Secret] | None = None,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """Poll ``url`` every ``interval`` until the response matches (``status``, default any
    2xx; ``contains``, a substring of the body) or ``within`` runs out. Returns
    ``{status, elapsed_ms, attempts}``. Default profile: fast_idempotent."""
    args = {
        "url": url,
        "method": method,
        "status": _listed(status),
        "contains": contains,
        "interval": interval,
        "within": within,
        "headers": _mapped(headers),
    }
    return _step("http_check", args, profile, outcome, id)


def state_snapshot(
    env: str,
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """Run ``[environments.<env>] observe`` and store its JSON under ``.chant/state/<env>/``.
    Returns ``{env, path, digest, resources}``. Default profile: fast_idempotent."""
    return _step("state_snapshot", {"env": env}, profile, outcome, id)


def state_diff(
    env: str,
    against: str = "previous",
    *,
    profile: ProfileArg = None,
    outcome: OutcomeArg = None,
    id: str | None = None,
) -> ActivityStep:
    """Compare the latest snapshot of ``env`` with the previous one (``against="previous"``)
    or a fresh observation (``"live"``). Returns ``{drifted, added, removed, changed,
    summary}``. Default profile: fast_idempotent."""
    return _step("state_diff", {"env": env, "against": against}, profile, outcome, id)


# The argument types of each built-in activity, checked at build time so that a wrong
# type is a build error at the step's line rather than a run-time failure after
# retries. Codes: s string, b true/false, cmd a string or a non-empty list of strings,
# strs a list of strings, env a table of strings, vals a table of strings/numbers/bools,
# status a status code or a list of them, dur a duration string. Strings may also be
# secret(...). None is allowed for an argument whose default is None.
BUILTIN_ARGS: dict[str, dict[str, str]] = {
    "shell": {"cmd": "s", "env": "env", "cwd": "s"},
    "build": {"path": "s", "command": "cmd"},
    "teardown": {"path": "s", "command": "cmd"},
    "kubectl_apply": {
        "manifest": "s",
        "namespace": "s",
        "context": "s",
        "server_side": "b",
        "wait": "b",
        "prune_selector": "s",
    },
    "helm_install": {
        "release": "s",
        "chart": "s",
        "namespace": "s",
        "values": "strs",
        "set": "vals",
        "version": "s",
        "wait": "b",
        "create_namespace": "b",
    },
    "wait_for_rollout": {"kind": "s", "name": "s", "namespace": "s", "context": "s"},
    "http_check": {
        "url": "s",
        "method": "s",
        "status": "status",
        "contains": "s",
        "interval": "dur",
        "within": "dur",
        "headers": "env",
    },
    "state_snapshot": {"env": "s"},
    "state_diff": {"env": "s", "against": "s"},
}
_NULLABLE = {"env", "cwd", "command", "namespace", "context", "prune_selector", "set"}
_NULLABLE |= {"version", "status", "contains", "headers"}
_WANTED = {
    "s": "a string",
    "b": "true or false",
    "cmd": "a string or a non-empty list of strings",
    "strs": "a list of strings",
    "env": "a dict of string keys to string values",
    "vals": "a dict of string keys to strings, numbers or booleans",
    "status": "an HTTP status code (100-599) or a list of them",
    "dur": "a duration string such as 2s",
}


def builtin_arg_problems(fn: str, args: Mapping[str, JSON]) -> list[str]:
    """Why each argument of a call to built-in activity ``fn`` has the wrong type."""
    kinds = BUILTIN_ARGS.get(fn, {})
    found = []
    for key, value in args.items():
        kind = kinds.get(key) if isinstance(key, str) else None
        if kind is None or (value is None and key in _NULLABLE) or _fits(kind, value):
            continue
        try:
            shown = repr(value)
        except Exception:
            shown = "?"
        shown = shown if len(shown) <= 40 else shown[:40] + "…"
        found.append(
            f'argument "{key}" must be {_WANTED[kind]}, got {type(value).__name__} {shown}'
        )
    return found


def _fits(kind: str, value: object) -> bool:
    def text(v: object) -> bool:
        return isinstance(v, str | Secret)

    def table(v: object, ok: type | tuple[type, ...]) -> bool:
        return isinstance(v, Mapping) and all(
            isinstance(k, str) and (text(x) or (isinstance(x, ok) and x is not None))
            for k, x in v.items()
        )

    if kind == "s":
        return text(value)
    if kind == "b":
        return isinstance(value, bool)
    if kind == "cmd":
        return text(value) or (
            isinstance(value, list | tuple) and bool(value) and all(map(text, value))
        )
    if kind == "strs":
        return isinstance(value, list | tuple) and all(map(text, value))
    if kind == "env":
        return table(value, ())
    if kind == "vals":
        return table(value, (int, float, bool))
    if kind == "status":
        codes = value if isinstance(value, list | tuple) else [value]
        return bool(codes) and all(
            isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in codes
        )
    if kind == "dur":
        try:
            return isinstance(value, str) and parse_duration(value) > 0
        except ValueError:
            return False
    return True
