"""Temporal's ``RPCError`` as chant's errors: the one place it is translated.

A failing call to the cluster is ``RuntimeUnavailableError`` (exit 3) naming the
profile; a workflow no worker answers for names the ``chant worker`` command that
would; "not found" is a normal answer its callers turn into their own error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.service import RPCError, RPCStatusCode

from chant.config import TemporalProfile
from chant.errors import RuntimeUnavailableError

CHECK_CLUSTER = "check the cluster (`chant server status` for the dev server)"


def cluster_failed(profile: TemporalProfile, exc: RPCError) -> RuntimeUnavailableError:
    """The error for a call to ``profile``'s cluster that failed."""
    return RuntimeUnavailableError(
        f"Temporal at {profile.address} (profile {profile.name}) failed: {exc.message}",
        hint=CHECK_CLUSTER,
    )


@contextlib.contextmanager
def translated(profile: TemporalProfile) -> Iterator[None]:
    """Run the body with any ``RPCError`` raised as ``cluster_failed``."""
    try:
        yield
    except RPCError as exc:
        raise cluster_failed(profile, exc) from exc


def not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is the cluster saying that what was asked for does not exist."""
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


def unanswered(workflow_id: str, exc: RPCError, command: str) -> RuntimeUnavailableError:
    """A query to ``workflow_id`` that no worker answered; ``command`` starts one."""
    return RuntimeUnavailableError(
        f"workflow {workflow_id} did not answer ({exc.message.splitlines()[0]})",
        hint=f"is a worker running for its task queue? start one with `{command}`",
    )


def refused_attributes(
    profile: TemporalProfile, missing: list[str], exc: RPCError
) -> RuntimeUnavailableError:
    """The cluster refused to register chant's search attributes (``missing``)."""
    return RuntimeUnavailableError(
        f"the Temporal server at {profile.address} refused to register the search "
        f"attribute(s) {', '.join(missing)} in namespace {profile.namespace}: "
        f"{exc.message}",
        hint="an Op's search_attributes each need one, as Keyword; use fewer of "
        "them (a dev server holds 10 Keyword attributes a namespace, chant's "
        "ChantOp and ChantProject among them)",
    )
