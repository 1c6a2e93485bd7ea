"""chant: turn ad-hoc deploy scripts into named, phased Ops.

Declare Ops in ``*.op.py`` files with the builders re-exported here, then
``chant run NAME`` runs them locally (in-process) or on Temporal, unchanged. The same
from Python: ``chant.run``, ``chant.load_project``, and ``chant.status``,
``chant.history``, ``chant.cancel``, ``chant.signal`` for runs on Temporal (see
``chant.api``; they are imported on first use, so ``import chant`` stays light).
"""

from typing import TYPE_CHECKING

from chant._version import __version__ as __version__
from chant.builders import (
    build,
    helm_install,
    http_check,
    kubectl_apply,
    state_diff,
    state_snapshot,
    teardown,
    wait_for_rollout,
)
from chant.dsl import activity, gate, phase, secret, shell
from chant.errors import (
    ActivityError,
    ActivityTimeoutError,
    ChantError,
    CommandFailedError,
    ErrorType,
    ExitCode,
    HeartbeatTimeoutError,
    ManifestNotFoundError,
    ReadinessFailedError,
    ToolNotFoundError,
)
from chant.ir import Op, Outcome, Profile, Retry

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports them on first use
    from chant.api import (
        cancel,
        exit_code,
        history,
        load_project,
        run,
        run_async,
        signal,
        status,
    )
    from chant.events import RunResult

__all__ = [
    "ActivityError",
    "ActivityTimeoutError",
    "ChantError",
    "CommandFailedError",
    "ErrorType",
    "ExitCode",
    "HeartbeatTimeoutError",
    "ManifestNotFoundError",
    "Op",
    "Outcome",
    "Profile",
    "ReadinessFailedError",
    "Retry",
    "RunResult",
    "ToolNotFoundError",
    "activity",
    "build",
    "cancel",
    "exit_code",
    "gate",
    "helm_install",
    "history",
    "http_check",
    "kubectl_apply",
    "load_project",
    "phase",
    "run",
    "run_async",
    "secret",
    "shell",
    "signal",
    "state_diff",
    "state_snapshot",
    "status",
    "teardown",
    "wait_for_rollout",
]

_LAZY = {
    "RunResult": "chant.events",
    **dict.fromkeys(
        (
            "cancel",
            "exit_code",
            "history",
            "load_project",
            "run",
            "run_async",
            "signal",
            "status",
        ),
        "chant.api",
    ),
}
"""Names imported on first use: the library API brings asyncio and the run machinery,
which ``import chant`` (in every op file) must not pay for."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chant' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup does not come here
    return value
