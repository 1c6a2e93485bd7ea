"""The ``shell`` activity: one ``/bin/sh -c`` command."""

from __future__ import annotations

from collections.abc import Mapping

from chant.activities.process import failure_message, run_command
from chant.activities.registry import ActivityContext
from chant.errors import CommandFailedError

STDERR_LINES_IN_ERROR = 5


async def shell(
    ctx: ActivityContext,
    cmd: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> dict[str, object]:
    """Run ``cmd`` with ``/bin/sh -c`` in its own process group.

    Args: ``cmd`` the command line; ``env`` merged over the environment; ``cwd`` the
    working directory (default: where chant runs, the project root).
    Returns ``{exit_code, stdout, stderr}`` with each stream's tail, trailing whitespace
    stripped. Raises ``CommandFailedError`` on a non-zero exit, naming the code and the
    last stderr lines. Default profile: ``fast_idempotent``.
    """
    result = await run_command(ctx, ["/bin/sh", "-c", cmd], env=env, cwd=cwd)
    if result.exit_code != 0:
        raise CommandFailedError(
            failure_message("command", result, STDERR_LINES_IN_ERROR), exit_code=result.exit_code
        )
    return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
