"""The ``shell`` activity: one ``/bin/sh -c`` command."""

from __future__ import annotations

import re
from collections.abc import Mapping

from chant.activities.process import CommandResult, failure_message, run_command
from chant.activities.registry import ActivityContext
from chant.errors import CommandFailedError, CommandNotExecutableError, CommandNotFoundError

STDERR_LINES_IN_ERROR = 5
NOT_FOUND, NOT_EXECUTABLE = 127, 126
"""The shell's exit codes (POSIX) for a command it cannot find, or cannot execute."""
# "/bin/sh: 1: ech: not found" (dash), "sh: line 1: ech: command not found" (bash),
# "/bin/sh: 1: ./x.sh: Permission denied": the command is the field before the reason.
_NOT_FOUND = re.compile(r": ([^:]+): (?:command )?not found\s*$")
_NOT_EXECUTABLE = re.compile(r": ([^:]+): (Permission denied|Is a directory|cannot execute.*)$")


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
    last stderr lines; on exit 127 ``CommandNotFoundError`` and on exit 126
    ``CommandNotExecutableError`` instead, which are not retried. Default profile:
    ``fast_idempotent``.
    """
    result = await run_command(ctx, ["/bin/sh", "-c", cmd], env=env, cwd=cwd)
    if result.exit_code != 0:
        raise _failure(result, cwd)
    return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}


def _failure(result: CommandResult, cwd: str | None = None) -> CommandFailedError:
    """The error for a non-zero exit: a command the shell could not find (127) or run
    (126) says which, in the shell's own words; any other code names the code and the
    last stderr lines."""
    code = result.exit_code
    detail = failure_message("command", result, STDERR_LINES_IN_ERROR)
    lines = result.stderr.splitlines()[::-1]
    if code == NOT_FOUND:
        found = next((m for m in map(_NOT_FOUND.search, lines) if m), None)
        message = f"command not found: {found[1]} (exit 127)" if found else detail
        if found and (interpreter := _missing_interpreter(found[1], cwd)):
            # dash says "./x.sh: not found" when it is x.sh's #! interpreter that is.
            message = (
                f"command not found: {interpreter}, the interpreter on the #! line of "
                f"{found[1]} (exit 127)"
            )
        return CommandNotFoundError(message, exit_code=code)
    if code == NOT_EXECUTABLE:
        found = next((m for m in map(_NOT_EXECUTABLE.search, lines) if m), None)
        message = f"command not executable: {found[1]}: {found[2]} (exit 126)" if found else detail
        return CommandNotExecutableError(message, exit_code=code)
    return CommandFailedError(detail, exit_code=code)


def _missing_interpreter(command: str, cwd: str | None) -> str | None:
    """The interpreter named on the ``#!`` line of file ``command`` when it does not
    exist, else None."""
    import os

    path = os.path.join(cwd or ".", command) if "/" in command else None
    try:
        with open(path or "", "rb") as file:
            first = file.readline(256)
    except OSError:
        return None
    parts = first[2:].split() if first.startswith(b"#!") else []
    interpreter = os.fsdecode(parts[0]) if parts else None
    return interpreter if interpreter and not os.path.exists(interpreter) else None
