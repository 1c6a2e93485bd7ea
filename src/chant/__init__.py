"""chant: turn ad-hoc deploy scripts into named, phased Ops.

Declare Ops in ``*.op.py`` files with the builders re-exported here, then
``chant run NAME`` runs them locally (in-process) or on Temporal, unchanged.
"""

from chant.dsl import activity, gate, phase, secret, shell
from chant.errors import (
    ActivityError,
    ActivityTimeoutError,
    ChantError,
    CommandFailedError,
    HeartbeatTimeoutError,
)
from chant.ir import Op, Outcome, Profile, Retry

__version__ = "0.1.0"

__all__ = [
    "ActivityError",
    "ActivityTimeoutError",
    "ChantError",
    "CommandFailedError",
    "HeartbeatTimeoutError",
    "Op",
    "Outcome",
    "Profile",
    "Retry",
    "activity",
    "gate",
    "phase",
    "secret",
    "shell",
]
