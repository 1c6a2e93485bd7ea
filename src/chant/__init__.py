"""chant: turn ad-hoc deploy scripts into named, phased Ops.

Declare Ops in ``*.op.py`` files with the builders re-exported here, then
``chant run NAME`` runs them locally (in-process) or on Temporal, unchanged. The same
from Python: ``chant.run``, ``chant.load_project``, and ``chant.status``,
``chant.history``, ``chant.cancel``, ``chant.signal`` for runs on Temporal (see
``chant.api``; they are imported on first use, so ``import chant`` stays light).
"""

from chant._version import __version__ as __version__

TYPE_CHECKING = False  # typing's constant, without importing typing; type checkers read True

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports each on first use
    from chant.api import (
        cancel,
        exit_code,
        history,
        load_project,
        plan_of,
        run,
        run_async,
        signal,
        status,
    )
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
    from chant.events import RunResult
    from chant.ir import Op, Outcome, Profile, Retry
    from chant.irparam import Param
    from chant.refs import out, outcome, param

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
    "Param",
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
    "out",
    "outcome",
    "param",
    "phase",
    "plan_of",
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
    "Op": "chant.ir",
    "Outcome": "chant.ir",
    "Param": "chant.irparam",
    **dict.fromkeys(("out", "outcome", "param"), "chant.refs"),
    "Profile": "chant.ir",
    "Retry": "chant.ir",
    "RunResult": "chant.events",
    **dict.fromkeys(("activity", "gate", "phase", "secret", "shell"), "chant.dsl"),
    **dict.fromkeys(
        (
            "build",
            "helm_install",
            "http_check",
            "kubectl_apply",
            "state_diff",
            "state_snapshot",
            "teardown",
            "wait_for_rollout",
        ),
        "chant.builders",
    ),
    **dict.fromkeys(
        (
            "ActivityError",
            "ActivityTimeoutError",
            "ChantError",
            "CommandFailedError",
            "ErrorType",
            "ExitCode",
            "HeartbeatTimeoutError",
            "ManifestNotFoundError",
            "ReadinessFailedError",
            "ToolNotFoundError",
        ),
        "chant.errors",
    ),
    **dict.fromkeys(
        (
            "cancel",
            "exit_code",
            "history",
            "load_project",
            "plan_of",
            "run",
            "run_async",
            "signal",
            "status",
        ),
        "chant.api",
    ),
}
"""Where each public name lives; it is imported on first use. ``import chant`` loads
nothing else: ``chant --version`` answers at once, an op file loads only the modules of
the names it imports (``from chant import Op, phase, shell``), and the library API
(asyncio, the run machinery) waits for its first call."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chant' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
