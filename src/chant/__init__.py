"""chant: turn ad-hoc deploy scripts into named, phased Ops.

Declare Ops in ``*.op.py`` files with the builders re-exported here, then
``chant run NAME`` runs them locally (in-process) or on Temporal, unchanged.
"""

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
    HeartbeatTimeoutError,
    ManifestNotFoundError,
    ReadinessFailedError,
    ToolNotFoundError,
)
from chant.ir import Op, Outcome, Profile, Retry

__all__ = [
    "ActivityError",
    "ActivityTimeoutError",
    "ChantError",
    "CommandFailedError",
    "HeartbeatTimeoutError",
    "ManifestNotFoundError",
    "Op",
    "Outcome",
    "Profile",
    "ReadinessFailedError",
    "Retry",
    "ToolNotFoundError",
    "activity",
    "build",
    "gate",
    "helm_install",
    "http_check",
    "kubectl_apply",
    "phase",
    "secret",
    "shell",
    "state_diff",
    "state_snapshot",
    "teardown",
    "wait_for_rollout",
]
