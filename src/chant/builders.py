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

ProfileArg = str | Profile | None
OutcomeArg = str | Outcome | None


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
    cmd = list(command) if command is not None and not isinstance(command, str) else command
    return _step("build", {"path": path, "command": cmd}, profile, outcome, id)


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
    cmd = list(command) if command is not None and not isinstance(command, str) else command
    return _step("teardown", {"path": path, "command": cmd}, profile, outcome, id)


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
        "values": [values] if isinstance(values, str) else list(values),
        "set": dict(set) if set else None,
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
        "status": list(status) if status is not None and not isinstance(status, int) else status,
        "contains": contains,
        "interval": interval,
        "within": within,
        "headers": dict(headers) if headers else None,
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
