"""Run chant as a real process that file permissions apply to, even when tests run as root.

``chmod -w`` does not stop root: its capabilities CAP_DAC_OVERRIDE (and friends) bypass
the mode bits. When the tests run as root on Linux, the child drops those capabilities
from its bounding set before it execs (as ``setpriv --bounding-set -dac_override`` does),
so a read-only folder is read-only to it. Where that is impossible the test is skipped
with the reason, never passed silently.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import Ran

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def _drop_override_caps() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _preexec() -> object:
    return _drop_override_caps if os.geteuid() == 0 else None


def run(argv: list[str], *, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` from ``cwd`` without the power to write where modes forbid it."""
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=_preexec(),  # type: ignore[arg-type]
    )


def require_permissions_to_apply() -> None:
    """Skip (saying why) when even an unprivileged child could write a read-only folder."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        try:
            probe = run(
                [sys.executable, "-c", f"open({str(Path(folder) / 'x')!r}, 'w')"], cwd=Path(folder)
            )
        except subprocess.SubprocessError as exc:
            pytest.skip(f"cannot drop root's file capabilities here ({exc})")
        finally:
            os.chmod(folder, 0o755)
    if "PermissionError" not in probe.stderr:
        pytest.skip("a read-only folder is writable to this test's child processes")


def unprivileged(args: list[str], *, cwd: Path, timeout: float = 60) -> Ran:
    """``chant ARGS`` as a real process that file permissions apply to."""
    require_permissions_to_apply()
    done = run([sys.executable, "-m", "chant", *args], cwd=cwd, timeout=timeout)
    return Ran(done.returncode, done.stdout, done.stderr)
