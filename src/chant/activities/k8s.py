"""The Kubernetes activities: ``kubectl_apply``, ``helm_install`` and ``wait_for_rollout``.

Each runs ``kubectl`` or ``helm`` as an argument vector (never through a shell) in its
own process group via ``run_command``, so output streams as ``step_output`` events,
heartbeats flow while the command runs, and a timeout or cancel stops the whole group.

Flags come in a fixed order, so one set of arguments always gives one command line::

    kubectl apply -f MANIFEST [--namespace NS] [--context CTX] [--server-side] [--wait]
                  [--prune -l SELECTOR]
    helm upgrade --install RELEASE CHART [--namespace NS] [--create-namespace]
                  [-f VALUES]... [--set KEY=VALUE]... (sorted by key) [--version V] [--wait]
    kubectl rollout status KIND/NAME [--namespace NS] [--context CTX]

Errors nobody can fix by retrying are non-retryable: a tool missing from ``PATH``
(``ToolNotFoundError``), a manifest or values file that does not exist
(``ManifestNotFoundError``, checked first, before even the tool, so the message is about
the user's file) and a rollout that failed for good (``ReadinessFailedError``). Any other
non-zero exit is a retryable ``CommandFailedError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from chant.activities.process import failure_message, require_tool, run_command, run_tool
from chant.activities.registry import ActivityContext
from chant.errors import CommandFailedError, ManifestNotFoundError, ReadinessFailedError

KUBECTL_INSTALL = "install kubectl: https://kubernetes.io/docs/tasks/tools/"
HELM_INSTALL = "install helm: https://helm.sh/docs/intro/install/"
STDERR_LINES_IN_ERROR = 5

TERMINAL_ROLLOUT_MARKERS = ("exceeded its progress deadline", "ProgressDeadlineExceeded")
"""Text in ``kubectl rollout status`` output meaning the rollout will not recover."""

_RESOURCE_LINE = re.compile(r"^\S+/\S+ \S")
"""A line of ``kubectl apply`` output about one object: ``deployment.apps/api configured``."""


def _is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def _require_file(path: str, what: str) -> None:
    """Raise ``ManifestNotFoundError`` unless ``path`` (relative to the current directory,
    the project root during a run) exists. URLs are left to the tool."""
    if _is_url(path) or os.path.exists(path):
        return
    where = os.path.abspath(path)
    looked = "" if path == where else f" (looked for {where})"
    raise ManifestNotFoundError(f"{what} {path} does not exist{looked}")


def _is_terminal(line: str) -> bool:
    return any(marker in line for marker in TERMINAL_ROLLOUT_MARKERS)


def _set_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def kubectl_apply_argv(
    manifest: str,
    namespace: str | None = None,
    context: str | None = None,
    server_side: bool = False,
    wait: bool = False,
    prune_selector: str | None = None,
) -> list[str]:
    """The command line ``kubectl_apply`` runs for these arguments."""
    argv = ["kubectl", "apply", "-f", manifest]
    if namespace:
        argv += ["--namespace", namespace]
    if context:
        argv += ["--context", context]
    if server_side:
        argv.append("--server-side")
    if wait:
        argv.append("--wait")
    if prune_selector:
        argv += ["--prune", "-l", prune_selector]
    return argv


def helm_install_argv(
    release: str,
    chart: str,
    namespace: str | None = None,
    values: Sequence[str] = (),
    set: Mapping[str, object] | None = None,
    version: str | None = None,
    wait: bool = True,
    create_namespace: bool = False,
) -> list[str]:
    """The command line ``helm_install`` runs for these arguments."""
    argv = ["helm", "upgrade", "--install", release, chart]
    if namespace:
        argv += ["--namespace", namespace]
    if create_namespace:
        argv.append("--create-namespace")
    for path in [values] if isinstance(values, str) else values:
        argv += ["-f", path]
    for key in sorted(set or {}):
        argv += ["--set", f"{key}={_set_value((set or {})[key])}"]
    if version:
        argv += ["--version", version]
    if wait:
        argv.append("--wait")
    return argv


def wait_for_rollout_argv(
    kind: str, name: str, namespace: str | None = None, context: str | None = None
) -> list[str]:
    """The command line ``wait_for_rollout`` runs for these arguments."""
    argv = ["kubectl", "rollout", "status", f"{kind}/{name}"]
    if namespace:
        argv += ["--namespace", namespace]
    if context:
        argv += ["--context", context]
    return argv


async def kubectl_apply(
    ctx: ActivityContext,
    manifest: str,
    namespace: str | None = None,
    context: str | None = None,
    server_side: bool = False,
    wait: bool = False,
    prune_selector: str | None = None,
) -> dict[str, object]:
    """Apply ``manifest`` with ``kubectl apply -f``.

    Args: ``manifest`` a file or folder, relative to the project root (or an http(s)
    URL, not checked); ``namespace`` → ``--namespace``; ``context`` (kubeconfig
    context) → ``--context``; ``server_side`` → ``--server-side``; ``wait`` → ``--wait``;
    ``prune_selector`` → ``--prune -l SELECTOR`` (delete objects carrying the label
    that the manifest no longer has).
    Returns ``{manifest, applied, pruned, stdout}``: ``applied`` the output lines about
    objects (``"deployment.apps/api configured"``), ``pruned`` those about pruned ones,
    ``stdout`` the output's tail. Default profile: ``long_infra``.
    Raises ``ManifestNotFoundError`` (non-retryable) when the manifest does not exist,
    checked before anything else; ``ToolNotFoundError`` (non-retryable) when kubectl is
    not on PATH; ``CommandFailedError`` when kubectl exits non-zero.
    """
    _require_file(manifest, "manifest")
    argv = kubectl_apply_argv(manifest, namespace, context, server_side, wait, prune_selector)
    result = await run_tool(ctx, argv, install=KUBECTL_INSTALL, stderr_lines=STDERR_LINES_IN_ERROR)
    objects = [line.strip() for line in result.stdout.splitlines() if _RESOURCE_LINE.match(line)]
    return {
        "manifest": manifest,
        "applied": [line for line in objects if not line.endswith(" pruned")],
        "pruned": [line for line in objects if line.endswith(" pruned")],
        "stdout": result.stdout,
    }


async def helm_install(
    ctx: ActivityContext,
    release: str,
    chart: str,
    namespace: str | None = None,
    values: Sequence[str] = (),
    set: Mapping[str, object] | None = None,
    version: str | None = None,
    wait: bool = True,
    create_namespace: bool = False,
) -> dict[str, object]:
    """Install or upgrade ``release`` from ``chart`` with ``helm upgrade --install``.

    Args: ``release`` the release name; ``chart`` a chart reference (``repo/name``, a
    path, an OCI or http URL); ``namespace`` → ``--namespace``; ``create_namespace`` →
    ``--create-namespace``; ``values`` files → ``-f FILE`` each, in order (each must exist,
    relative to the project root, unless it is an http(s) URL); ``set`` → ``--set KEY=VALUE``
    per item, sorted by key (values go to helm as written, so helm's ``--set`` syntax
    applies: a comma separates values unless escaped as ``\\,``); ``version`` (chart
    version) → ``--version``; ``wait`` → ``--wait`` (helm's own timeout, 5m by default,
    then applies).
    Returns ``{release, chart, namespace, stdout}``. Default profile: ``long_infra``.
    Raises ``ManifestNotFoundError`` (non-retryable) for a values file that does not
    exist, checked first; ``ToolNotFoundError`` (non-retryable) when helm is not on PATH;
    ``CommandFailedError`` when helm exits non-zero.
    """
    for path in [values] if isinstance(values, str) else values:
        _require_file(path, "values file")
    argv = helm_install_argv(
        release, chart, namespace, values, set, version, wait, create_namespace
    )
    result = await run_tool(ctx, argv, install=HELM_INSTALL, stderr_lines=STDERR_LINES_IN_ERROR)
    return {"release": release, "chart": chart, "namespace": namespace, "stdout": result.stdout}


async def wait_for_rollout(
    ctx: ActivityContext,
    kind: str,
    name: str,
    namespace: str | None = None,
    context: str | None = None,
) -> dict[str, object]:
    """Wait until ``kind/name`` (e.g. ``deployment``/``api``) has rolled out, with
    ``kubectl rollout status``.

    Args: ``kind`` a resource kind that rolls out (deployment, statefulset, daemonset);
    ``name`` its name; ``namespace`` → ``--namespace``; ``context`` → ``--context``.
    kubectl waits without a limit of its own; the profile's timeout bounds the wait.
    Returns ``{kind, name, ready: true, stdout}``. Default profile: ``k8s_wait``.
    Raises ``ReadinessFailedError`` (non-retryable) when the rollout failed for good
    (its progress deadline was exceeded); ``ToolNotFoundError`` (non-retryable) when
    kubectl is not on PATH; ``CommandFailedError`` for any other non-zero exit.
    """
    argv = wait_for_rollout_argv(kind, name, namespace, context)
    require_tool(argv[0], KUBECTL_INSTALL)
    result = await run_command(ctx, argv)
    if result.exit_code != 0:
        lines = f"{result.stderr}\n{result.stdout}".splitlines()
        terminal = [line.strip() for line in lines if _is_terminal(line)]
        if terminal:
            describe = " ".join(["kubectl", "describe", *argv[3:]])
            raise ReadinessFailedError(
                f"{kind}/{name} failed to roll out for good: {terminal[0]}; "
                f"see {describe}, fix the cause and deploy again"
            )
        raise CommandFailedError(
            failure_message("kubectl rollout status", result, STDERR_LINES_IN_ERROR),
            exit_code=result.exit_code,
        )
    return {"kind": kind, "name": name, "ready": True, "stdout": result.stdout}
